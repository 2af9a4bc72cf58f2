"""How fast the registry page renders: a project of 500 packages (50 names x 10
versions, 3 files each), signed in as a developer, 200 calls per case.

Real services: an embedded PostgreSQL and `gateway serve` as its own process.
Each case is timed twice: on the client (over loopback, keep-alive) and on the
server, from the gateway's own request log (`duration_ms`, matched by request id).

    python benchmarks/registry_page.py [--packages 500] [--calls 200]

Prints a table (median and p99 per case) and writes benchmarks/results/registry_page.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.list_packages import seed  # noqa: E402
from benchmarks.services import developer_token, gateway_process, postgres, workdir  # noqa: E402
from benchmarks.stats import measured_on, percentiles  # noqa: E402
from gateway.embedded import ensure_database  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "registry_page.json"
TARGET_MS = 100.0
REGISTRY = "/bench/app/-/packages"


async def time_page(http: aiohttp.ClientSession, url: str, case: int, calls: int) -> list[float]:
    for _ in range(10):  # warm-up: connections, plans, template compilation
        async with http.get(url) as response:
            await response.read()
    timings = []
    for n in range(calls):
        started = time.perf_counter()
        async with http.get(url, headers={"X-Request-Id": f"bench-{case}-{n}"}) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url}: {response.status} {body[:200]!r}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def server_timings(log: Path, case: int) -> list[float]:
    prefix = f"bench-{case}-"
    timings = []
    for line in log.read_text().splitlines():
        if line.startswith("{") and prefix in line:
            entry = json.loads(line)
            if entry.get("event") == "request" and entry.get("request_id", "").startswith(prefix):
                timings.append(float(entry["duration_ms"]))
    return timings


async def run(packages: int, calls: int) -> dict:
    with workdir() as wd, postgres(wd) as pg:
        await ensure_database(pg)
        env = {"GATEWAY_DATABASE_URL": pg.dsn}
        token = await developer_token(env, wd)
        await seed(pg.dsn, packages)
        served = {**env, "GATEWAY_LOG_LEVEL": "info", "GATEWAY_LOG_FORMAT": "json"}
        client_side: list[tuple[str, list[float]]] = []
        with gateway_process(served, wd) as gw:
            jar = aiohttp.CookieJar(unsafe=True)  # the gateway is on 127.0.0.1
            async with aiohttp.ClientSession(gw.base_url, cookie_jar=jar) as http:
                async with http.post("/-/sign_in", data={"token": token},
                                     allow_redirects=False) as response:
                    if response.status != 303:
                        raise RuntimeError(f"sign-in failed: {response.status}")
                async with http.get("/api/v4/projects/bench%2Fapp/packages",
                                    headers={"PRIVATE-TOKEN": token}) as response:
                    first_id = (await response.json())[0]["id"]
                cases = [
                    ("registry, default order (newest first)", REGISTRY),
                    ("registry, order_by=name asc", f"{REGISTRY}?order_by=name&sort=asc"),
                    ("registry, order_by=version, page 2", f"{REGISTRY}?order_by=version&page=2"),
                    ("registry, search=age-4", f"{REGISTRY}?search=age-4"),
                    ("package page (3 files, 9 other versions)", f"{REGISTRY}/{first_id}"),
                    ("home (project list with totals)", "/"),
                ]
                for index, (label, url) in enumerate(cases):
                    client_side.append((label, await time_page(http, url, index, calls)))
        results = []
        for index, (label, timings) in enumerate(client_side):
            results.append({"case": label, "client": percentiles(timings),
                            "server": percentiles(server_timings(wd / "gateway.log", index))})
    return {
        "packages": packages, "files_per_package": 3, "calls_per_case": calls,
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
          f"{result['calls_per_case']} calls per case (target: under {TARGET_MS:.0f} ms on the server)\n")
    print(f"{'case':<{width}}  {'server median':>13}  {'server p99':>10}  {'client median':>13}  "
          f"{'client p99':>10}")
    for case in result["cases"]:
        server, client = case["server"], case["client"]
        print(f"{case['case']:<{width}}  {server['median_ms']:>11.2f}ms  {server['p99_ms']:>8.2f}ms  "
              f"{client['median_ms']:>11.2f}ms  {client['p99_ms']:>8.2f}ms")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
