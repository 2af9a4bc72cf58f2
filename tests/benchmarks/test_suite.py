"""The benchmark suite's plumbing: `python -m benchmarks run --quick` on cheap scenarios,
as a subprocess with real services, writes the rows and ratios it promises, and leaves
no server and no temporary folder behind, Ctrl-C included."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import MOTO_CREDENTIALS, private_tmp_dir

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def bench_tmp() -> Iterator[Path]:
    """TMPDIR for the suite: its services' folders land here, so we can find leftovers.
    Outside pytest's basetemp, for the embedded PostgreSQL's sake (see conftest)."""
    with private_tmp_dir("bench-plumbing-") as path:
        path.chmod(0o755)  # passable, as a user's own folder: see conftest's cluster_dir
        yield path


def suite_env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "BENCH_"))}
    env.update(TMPDIR=str(tmpdir), CI="1")
    return env


def leftovers(tmpdir: Path) -> list[str]:
    """Processes still running from the suite's temporary folder, and the folders."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        try:
            command = " ".join(process.info["cmdline"] or [])
            cwd = process.info["cwd"] or ""
        except psutil.Error:
            continue
        if str(tmpdir) in command or cwd.startswith(str(tmpdir)):
            found.append(f"{process.pid}: {command[:120]}")
    found += [str(path) for path in tmpdir.glob("gateway-bench-*")]
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """If the suite is still running (the test failed), it and the servers it started."""
    if process.poll() is not None:
        return
    family = [*psutil.Process(process.pid).children(recursive=True), psutil.Process(process.pid)]
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait()


def test_quick_run_writes_rows_and_ratios(bench_tmp: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmarks", "run", "--quick", "--scenario", "upload-1gib",
               "--scenario", "fs-upload", "--results-dir", str(results)]
    run = subprocess.run(command, cwd=REPO, env=suite_env(bench_tmp), capture_output=True,
                         text=True, timeout=150)
    assert run.returncode == 0, run.stderr[-3000:]
    assert leftovers(bench_tmp) == []

    [json_path] = results.glob("*-quick-upload-1gib+fs-upload.json")
    [md_path] = results.glob("*-quick-upload-1gib+fs-upload.md")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", json_path.name[:10])
    report = json.loads(json_path.read_text())
    assert report["quick"] is True and report["rounds"] == 2 and report["s3"] == "seaweedfs"
    assert report["command"].endswith("--results-dir " + str(results))
    ceiling = report["hashing_ceiling"]
    assert ceiling["md5_sha1_sha256_s_per_gib"] > ceiling["md5_s_per_gib"] > 0

    scenarios = {scenario["name"]: scenario for scenario in report["scenarios"]}
    assert list(scenarios) == ["upload-1gib", "fs-upload"]
    upload = scenarios["upload-1gib"]
    assert [(c["gateway"], c["baseline"]) for c in upload["comparisons"]] == [
        (gateway, baseline)
        for gateway in ("gateway 32 MiB, Content-Length", "gateway 32 MiB, chunked")
        for baseline in ("direct multipart 32 MiB, default client",
                         "direct multipart 32 MiB, tuned client")
    ]
    [fs] = scenarios["fs-upload"]["comparisons"]
    assert (fs["gateway"], fs["baseline"]) == ("gateway (fs) 32 MiB, Content-Length",
                                               "dd bs=8M conv=fsync 32 MiB")
    for comparison in [*upload["comparisons"], fs]:
        assert comparison["unit"] == "MiB/s"
        assert len(comparison["ratios"]) == 2
        for gateway, baseline, ratio in zip(comparison["gateway_values"],
                                            comparison["baseline_values"], comparison["ratios"]):
            assert gateway > 0 and baseline > 0
            assert ratio == pytest.approx(gateway / baseline, rel=0.01)
        summary = comparison["ratio_summary"]
        assert summary["min"] <= summary["median"] <= summary["max"]

    subjects = {s["name"]: s for s in upload["subjects"]}
    gateway = subjects["gateway 32 MiB, Content-Length"]
    assert set(gateway["cpu_s_per_gib"]) == {"client", "gateway-s3", "seaweedfs"}
    assert gateway["cpu_s_per_gib"]["gateway-s3"] > 0 and gateway["peak_rss_mb"] > 20
    assert [r["bytes"] for r in gateway["rounds"]] == [32 * 1024 * 1024] * 2
    assert set(subjects["direct multipart 32 MiB, tuned client"]["cpu_s_per_gib"]) == {"client", "seaweedfs"}

    table = md_path.read_text()
    for comparison in [*upload["comparisons"], fs]:
        ratios = ", ".join(f"{r:.2f}" for r in comparison["ratios"])
        assert f"| {comparison['label']} | MiB/s |" in table
        assert f"| **{comparison['ratio_summary']['median']:.2f}** " in table and ratios in table
    assert "MD5+SHA-1+SHA-256" in table and "gateway-s3" in table
    assert table in run.stdout  # printed as written


def test_ctrl_c_stops_every_server_and_empties_an_external_s3(
        bench_tmp: Path, tmp_path: Path, moto_endpoint: str, s3_bucket: str, s3_admin: Any) -> None:
    env = suite_env(bench_tmp)
    env.update(BENCH_S3_ENDPOINT=moto_endpoint, BENCH_S3_BUCKET=s3_bucket,
               BENCH_S3_ACCESS_KEY=MOTO_CREDENTIALS["aws_access_key_id"],
               BENCH_S3_SECRET_KEY=MOTO_CREDENTIALS["aws_secret_access_key"])
    command = [sys.executable, "-m", "benchmarks", "run", "--quick", "--scenario", "many-1mib",
               "--rounds", "1000", "--results-dir", str(tmp_path)]
    process = subprocess.Popen(command, cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        # The rounds have begun once objects land in the bucket (ours, not SeaweedFS).
        while not s3_admin.list_objects_v2(Bucket=s3_bucket).get("Contents"):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the rounds never started"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)  # the suite prints its threads' stacks
            time.sleep(2)
            kill_tree(process)
            pytest.fail("still running 120 s after SIGINT:\n" + process.communicate()[1][-8000:])
    finally:
        kill_tree(process)
    assert process.returncode == 130, err[-3000:]
    assert "interrupted" in err
    assert leftovers(bench_tmp) == []
    assert list(tmp_path.iterdir()) == []  # nothing written from a cut run
    # What the run wrote under its prefix is gone; the bucket itself stays.
    assert s3_admin.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    assert s3_admin.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
