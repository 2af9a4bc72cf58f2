"""Turns the rounds into numbers (median, min, max, the ratio per round) and writes
them: JSON and a markdown table under benchmarks/results/, the table on stdout too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.measure import GiB, Measurement, median
from benchmarks.suite import THROUGHPUT, Comparison, Scenario, Subject

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def spread(values: list[float], digits: int = 2) -> dict[str, float]:
    return {"median": round(median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def ratio(gateway: float, baseline: float, higher_is_better: bool) -> float:
    """Above 1: the gateway did better than its baseline in that round."""
    if higher_is_better:
        return gateway / baseline if baseline else float("inf")
    return baseline / gateway if gateway else float("inf")


def comparison_summary(comparison: Comparison, results: dict[str, list[Measurement]]) -> dict[str, Any]:
    metric = comparison.metric
    gateway = [metric.value(m) for m in results[comparison.gateway]]
    baseline = [metric.value(m) for m in results[comparison.baseline]]
    ratios = [ratio(g, b, metric.higher_is_better) for g, b in zip(gateway, baseline, strict=True)]
    return {
        "label": comparison.label, "gateway": comparison.gateway, "baseline": comparison.baseline,
        "unit": metric.unit, "higher_is_better": metric.higher_is_better,
        "gateway_values": [round(v, 3) for v in gateway],
        "baseline_values": [round(v, 3) for v in baseline],
        "ratios": [round(r, 3) for r in ratios],
        "gateway_summary": spread(gateway), "baseline_summary": spread(baseline),
        "ratio_summary": spread(ratios, 3),
    }


def subject_summary(subject: Subject, runs: list[Measurement], digests_s_per_gib: float) -> dict[str, Any]:
    names = sorted({name for m in runs for name in m.cpu_seconds})
    summary: dict[str, Any] = {
        "name": subject.name, "role": subject.role,
        "rounds": [{"seconds": round(m.seconds, 3), "bytes": m.bytes, "operations": m.operations,
                    "cpu_seconds": {k: round(v, 3) for k, v in m.cpu_seconds.items()},
                    "peak_rss_mb": round(m.peak_rss_bytes / 1e6, 1) if m.peak_rss_bytes else None,
                    "latencies_ms": [round(v, 2) for v in m.latencies_ms] or None}
                   for m in runs],
        "cpu_seconds": {name: round(median([m.cpu_seconds.get(name, 0.0) for m in runs]), 3)
                        for name in names},
    }
    if all(m.bytes for m in runs):
        summary["mib_s"] = spread([THROUGHPUT.value(m) for m in runs], 1)
        summary["cpu_s_per_gib"] = {
            name: round(median([m.cpu_seconds.get(name, 0.0) / (m.bytes / GiB) for m in runs]), 2)
            for name in names}
        gateway_cpu = [v for k, v in summary["cpu_s_per_gib"].items() if k.startswith("gateway-")]
        # Only for big transfers: with many small requests per-request work, not bytes, dominates.
        if subject.role == "gateway" and gateway_cpu and not any(m.operations for m in runs):
            summary["gateway_cpu_vs_three_digests"] = round(gateway_cpu[0] / digests_s_per_gib, 2)
    if all(m.operations for m in runs):
        summary["cpu_ms_per_operation"] = {
            name: round(median([m.cpu_seconds.get(name, 0.0) * 1000 / m.operations for m in runs]), 3)
            for name in names}
    peaks = [m.peak_rss_bytes for m in runs if m.peak_rss_bytes]
    if peaks:
        summary["peak_rss_mb"] = round(max(peaks) / 1e6, 1)
    return summary


def scenario_summary(scenario: Scenario, results: dict[str, list[Measurement]],
                     digests_s_per_gib: float) -> dict[str, Any]:
    return {
        "name": scenario.name, "description": scenario.description, "notes": scenario.notes,
        "comparisons": [comparison_summary(c, results) for c in scenario.comparisons],
        "subjects": [subject_summary(s, results[s.name], digests_s_per_gib)
                     for s in scenario.subjects if results.get(s.name)],
    }


def _fmt(value: float) -> str:
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def _range(summary: dict[str, float]) -> str:
    return f"{_fmt(summary['median'])} ({_fmt(summary['min'])}–{_fmt(summary['max'])})"


def markdown(report: dict[str, Any]) -> str:
    ceiling = report["hashing_ceiling"]
    lines = [
        f"# Benchmark suite: {report['scenario_set']}",
        "",
        f"`{report['command']}` — {report['measured_at']}, {report['machine']['cpus']} CPUs, "
        f"Python {report['machine']['python']}, load before the run {report['machine']['load_before']}, "
        f"S3: {report['s3']}, {report['rounds']} rounds (gateway and baseline alternated).",
        "",
        f"Hashing ceiling (one thread, in memory): MD5+SHA-1+SHA-256 "
        f"{ceiling['md5_sha1_sha256_s_per_gib']} CPU-s/GiB ({ceiling['md5_sha1_sha256_mib_s']} MiB/s); "
        f"MD5 alone {ceiling['md5_s_per_gib']} CPU-s/GiB ({ceiling['md5_mib_s']} MiB/s).",
        "",
        "Ratio: gateway over baseline per round (for times, baseline over gateway): above 1 the "
        "gateway did better. Values are median (min–max) over the rounds.",
        "",
        "| scenario | comparison | unit | gateway | baseline | ratio | ratio per round |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario in report["scenarios"]:
        for c in scenario["comparisons"]:
            lines.append(f"| {scenario['name']} | {c['label']} | {c['unit']} | {_range(c['gateway_summary'])} "
                         f"| {_range(c['baseline_summary'])} | **{c['ratio_summary']['median']:.2f}** "
                         f"({c['ratio_summary']['min']:.2f}–{c['ratio_summary']['max']:.2f}) "
                         f"| {', '.join(f'{r:.2f}' for r in c['ratios'])} |")
    lines += [
        "",
        "CPU per process (median over rounds): seconds per GiB moved, or milliseconds per "
        "request where the work is counted in files or calls; peak RSS of the gateway.",
        "",
        "| scenario | subject | MiB/s | CPU | gateway CPU / three digests | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in report["scenarios"]:
        for s in scenario["subjects"]:
            if "cpu_s_per_gib" in s and "cpu_ms_per_operation" not in s:
                cpu = ", ".join(f"{k} {v:.2f} s/GiB" for k, v in s["cpu_s_per_gib"].items())
            elif "cpu_ms_per_operation" in s:
                cpu = ", ".join(f"{k} {v:.2f} ms/op" for k, v in s["cpu_ms_per_operation"].items())
            else:
                cpu = ", ".join(f"{k} {v:.2f} s" for k, v in s["cpu_seconds"].items())
            rate = _range(s["mib_s"]) if "mib_s" in s else ""
            versus = s.get("gateway_cpu_vs_three_digests", "")
            lines.append(f"| {scenario['name']} | {s['name']} | {rate} | {cpu} | {versus} "
                         f"| {s.get('peak_rss_mb', '')} |")
    notes = [(scenario["name"], note) for scenario in report["scenarios"] for note in scenario["notes"]]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {name}: {note}" for name, note in notes]
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], results_dir: Path) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{report['measured_at'][:10]}-{report['scenario_set']}"
    json_path, md_path = results_dir / f"{stem}.json", results_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path
