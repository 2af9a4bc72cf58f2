"""How fast the Packages API lists: 500 packages of 3 files each, 200 calls per case.

Real services: an embedded PostgreSQL and `gateway serve` as its own process; the
calls go over HTTP with keep-alive, one after another, timed on the client.

    python benchmarks/list_packages.py [--packages 500] [--calls 200]

Prints a table (median and p99 per case) and writes benchmarks/results/list_packages.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.services import developer_token, gateway_process, postgres, workdir  # noqa: E402
from benchmarks.stats import measured_on, percentiles  # noqa: E402
from gateway.embedded import ensure_database  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "list_packages.json"
TARGET_MS = 50.0

SEED = """
INSERT INTO packages (project_id, name, version, created_at, updated_at)
SELECT $1, 'package-' || (n % 50), '1.' || (n / 50) || '.' || n,
       now() - make_interval(secs => $2 - n), now()
FROM generate_series(1, $2) AS n;

INSERT INTO package_files (package_id, file_name, size, file_md5, file_sha1, file_sha256,
                           file_store, object_key, actor_kind, actor_name)
SELECT p.id, 'file-' || f || '.tar.gz', 1024 * f, md5(p.id::text), repeat('0', 40),
       repeat('0', 64), 1, 'seed/' || p.id || '/' || f, 'user', 'bench'
FROM packages p, generate_series(1, 3) AS f;

ANALYZE packages;
ANALYZE package_files;
"""


async def seed(dsn: str, packages: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        project_id = await conn.fetchval("SELECT id FROM projects WHERE path = 'bench/app'")
        for statement in SEED.split(";\n"):
            if statement.strip():
                if "$1" in statement:
                    await conn.execute(statement, project_id, packages)
                else:
                    await conn.execute(statement)
    finally:
        await conn.close()


async def time_calls(http: aiohttp.ClientSession, url: str, params: dict[str, str], token: str,
                     calls: int) -> list[float]:
    headers = {"PRIVATE-TOKEN": token}
    for _ in range(10):  # warm-up: connections, plans, caches
        async with http.get(url, params=params, headers=headers) as response:
            await response.read()
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        async with http.get(url, params=params, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} {params}: {response.status} {body[:200]!r}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def run(packages: int, calls: int) -> dict:
    cases = [
        ("project, per_page=100 (default order)", "/api/v4/projects/bench%2Fapp/packages",
         {"per_page": "100"}),
        ("project, per_page=100, order_by=name desc", "/api/v4/projects/bench%2Fapp/packages",
         {"per_page": "100", "order_by": "name", "sort": "desc"}),
        ("project, per_page=100, page=5", "/api/v4/projects/bench%2Fapp/packages",
         {"per_page": "100", "page": "5"}),
        ("project, package_name=age-4 filter", "/api/v4/projects/bench%2Fapp/packages",
         {"per_page": "100", "package_name": "age-4"}),
        ("group, per_page=100", "/api/v4/groups/bench/packages", {"per_page": "100"}),
        ("package files of one package", None, {}),
    ]
    with workdir() as wd, postgres(wd) as pg:
        await ensure_database(pg)
        env = {"GATEWAY_DATABASE_URL": pg.dsn}
        token = await developer_token(env, wd)  # a developer: listing needs reporter
        await seed(pg.dsn, packages)
        with gateway_process(env, wd) as gw:
            async with aiohttp.ClientSession(gw.base_url) as http:
                async with http.get("/api/v4/projects/bench%2Fapp/packages",
                                    headers={"PRIVATE-TOKEN": token}) as response:
                    total = int(response.headers["X-Total"])
                    first_id = (await response.json())[0]["id"]
                results = []
                for label, url, params in cases:
                    url = url or f"/api/v4/projects/bench%2Fapp/packages/{first_id}/package_files"
                    timings = await time_calls(http, url, params, token, calls)
                    results.append({"case": label, **percentiles(timings)})
    return {
        "packages": total, "files_per_package": 3, "calls_per_case": calls,
        "target_ms": TARGET_MS, "cases": results, **measured_on(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=500)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(run(args.packages, args.calls))
    width = max(len(case["case"]) for case in result["cases"])
    print(f"{result['packages']} packages x {result['files_per_package']} files, "
          f"{result['calls_per_case']} calls per case (target: under {TARGET_MS:.0f} ms)\n")
    print(f"{'case':<{width}}  {'median':>8}  {'p99':>8}  {'max':>8}")
    for case in result["cases"]:
        print(f"{case['case']:<{width}}  {case['median_ms']:>6.2f}ms  {case['p99_ms']:>6.2f}ms  "
              f"{case['max_ms']:>6.2f}ms")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
