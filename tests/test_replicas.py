"""Two `gateway serve` processes on different ports over one PostgreSQL and one
SeaweedFS bucket: the registry behaves as one."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.services import S3Endpoint
from tests.serve_process import ServeProcess, clean_env, gateway_cli

PUSHES_PER_NODE = 8


def handled(metrics_text: str) -> Counter[tuple[str, str]]:
    """Package requests a node answered, by (method, status)."""
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if (sample.name == "gateway_http_requests_total"
                    and "/packages/generic/" in sample.labels["route"]):
                counts[(sample.labels["method"], sample.labels["status"])] += int(sample.value)
    return counts


@pytest.mark.slow
async def test_two_nodes_one_database_one_bucket(database_url: str, seaweed: S3Endpoint,
                                                 tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url, GATEWAY_LOG_LEVEL="warning",
                    **seaweed.gateway_env("replicas"))
    for args in (("project", "create", "farm/app"), ("user", "create", "ci"),
                 ("member", "add", "--project", "farm/app", "--user", "ci", "--role", "developer"),
                 ("group", "settings", "farm", "--duplicates-allowed", "false")):
        code, _, err = await gateway_cli("admin", *args, env=env)
        assert code == 0, err
    _, token, _ = await gateway_cli("admin", "token", "create", "--user", "ci", "--scopes", "api",
                                    env=env)
    headers = {"PRIVATE-TOKEN": token.strip()}
    nodes = [ServeProcess({**env, "GATEWAY_DATA_DIR": str(tmp_path / f"node{n}")}, tmp_path)
             for n in (1, 2)]
    try:
        for node in nodes:
            await node.start()
        for node in nodes:
            await node.ready()
        url = "/api/v4/projects/farm%2Fapp/packages/generic/app/1.0.0"
        bodies = {f"f{n}.bin": os.urandom(300_000 + n) for n in range(PUSHES_PER_NODE)}
        contested = os.urandom(200_000)
        async with aiohttp.ClientSession() as http:
            async def put(node: ServeProcess, name: str, body: bytes) -> int:
                async with http.put(f"{node.base}{url}/{name}", data=body,
                                    headers=headers) as response:
                    return response.status

            # Every node pushes its own files and the same one file name, all at once,
            # to a package that does not exist yet.
            results = await asyncio.gather(
                *(put(nodes[n % 2], name, body) for n, (name, body) in enumerate(bodies.items())),
                *(put(node, "same.bin", contested) for node in nodes for _ in range(3)))
            own, contest = results[:len(bodies)], results[len(bodies):]
            assert own == [201] * len(bodies)
            assert sorted(contest) == [201] + [409] * 5  # duplicates forbidden: one wins

            async with http.get(f"{nodes[0].base}/api/v4/projects/farm%2Fapp/packages",
                                headers=headers) as response:
                packages = await response.json()
            assert [(p["name"], p["version"]) for p in packages] == [("app", "1.0.0")]

            for node in nodes:  # each node serves every file, whoever stored it
                for name, body in [*bodies.items(), ("same.bin", contested)]:
                    async with http.get(f"{node.base}{url}/{name}", headers=headers) as response:
                        data = await response.read()
                        assert response.status == 200 and data == body, (node.base, name)
                        assert response.headers["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()

            seen = []
            for node in nodes:
                async with http.get(f"{node.base}/metrics") as response:
                    seen.append(handled(await response.text()))
        # Each node counted what it handled: its own pushes, its share of the
        # contest, and the downloads it served.
        per_node = len(bodies) // 2
        for counts in seen:
            assert counts[("PUT", "201")] + counts[("PUT", "409")] == per_node + 3
            assert counts[("GET", "200")] == len(bodies) + 1
        assert sum(c[("PUT", "201")] for c in seen) == len(bodies) + 1
        assert sum(c[("PUT", "409")] for c in seen) == 5
    finally:
        for node in nodes:
            await node.stop()
