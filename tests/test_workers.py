"""`gateway serve --workers N`: one port, N processes, a supervisor that replaces
a dead worker and passes the shutdown on."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.harness import wait_for
from tests.serve_process import ServeProcess, clean_env, gateway_cli, postgres_processes

VERSIONS = 10
UPLOADS = 200


async def workers_of(server: ServeProcess) -> list[psutil.Process]:
    assert server.process is not None
    return psutil.Process(server.process.pid).children()


@pytest.mark.slow
async def test_two_workers_share_the_load_and_survive_a_kill(
        database_url: str, moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url, GATEWAY_DATA_DIR=str(tmp_path / "data"),
                    GATEWAY_S3_BUCKET=s3_bucket, GATEWAY_S3_ENDPOINT_URL=moto_endpoint,
                    GATEWAY_S3_ACCESS_KEY_ID="testing", GATEWAY_S3_SECRET_ACCESS_KEY="testing",
                    GATEWAY_LOG_LEVEL="warning", GATEWAY_SHUTDOWN_GRACE="10")
    for args in (("project", "create", "farm/app"), ("user", "create", "ci"),
                 ("member", "add", "--project", "farm/app", "--user", "ci", "--role", "developer")):
        assert (await gateway_cli("admin", *args, env=env))[0] == 0
    _, token, _ = await gateway_cli("admin", "token", "create", "--user", "ci", "--scopes", "api",
                                    env=env)
    headers = {"PRIVATE-TOKEN": token.strip()}
    server = await ServeProcess(env, tmp_path).start("--workers", "2")
    try:
        await server.ready()
        await wait_for(lambda: len(psutil.Process(server.process.pid).children()) == 2, 30)
        body = os.urandom(1 << 20)
        limit = asyncio.Semaphore(32)
        served_by: set[str] = set()

        async with aiohttp.ClientSession(base_url=server.base) as http:
            async def upload(n: int) -> int:
                url = (f"/api/v4/projects/farm%2Fapp/packages/generic/app/1.{n % VERSIONS}.0/"
                       f"f{n}.bin")
                async with limit, http.put(url, data=body, headers=headers) as response:
                    return response.status

            statuses = await asyncio.gather(*(upload(n) for n in range(UPLOADS)))
            assert statuses == [201] * UPLOADS
            async with http.get("/api/v4/projects/farm%2Fapp/packages?per_page=100",
                                headers=headers) as response:
                assert response.status == 200
                packages = await response.json()
            assert sorted(p["version"] for p in packages) == sorted(
                f"1.{v}.0" for v in range(VERSIONS))

            # Both workers took connections: each one's own counters are in the sum,
            # and the per-process files name two pids.
            metrics_dir = tmp_path / "data" / "metrics"
            pids = {p.pid for p in await workers_of(server)}
            written = {name.split("_")[-1].removesuffix(".db") for name in os.listdir(metrics_dir)}
            served_by = {pid for pid in map(str, pids) if pid in written}
            assert len(served_by) == 2, (pids, written)
            async with http.get("/metrics") as response:
                text = await response.text()
            put_count = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                            if line.startswith("gateway_http_requests_total{")
                            and 'method="PUT"' in line and 'status="201"' in line)
            assert put_count == UPLOADS

            victim = (await workers_of(server))[0]
            victim.send_signal(signal.SIGKILL)
            await wait_for(lambda: not victim.is_running() or
                           victim.status() == psutil.STATUS_ZOMBIE, 10)

            async def replaced() -> bool:
                children = await workers_of(server)
                return len(children) == 2 and victim.pid not in {c.pid for c in children}

            for _ in range(200):
                if await replaced():
                    break
                await asyncio.sleep(0.1)
            assert await replaced()
            for n in range(20):  # answered all along, by the survivor or the new worker
                async with http.get("/-/liveness") as response:
                    assert response.status == 200
                async with http.get(f"/api/v4/projects/farm%2Fapp/packages/generic/app/1.{n % VERSIONS}.0/f{n}.bin",
                                    headers=headers) as response:
                    assert response.status == 200 and len(await response.read()) == len(body)
        children = await workers_of(server)
        server.send_signal(signal.SIGTERM)
        assert await server.wait(60) == 0, server.output
        assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE
                       for child in children)
    finally:
        await server.stop()


async def test_workers_need_a_fixed_port(tmp_path: Path) -> None:
    code, _, err = await gateway_cli("serve", "--workers", "2", "--port", "0",
                                     env=clean_env(GATEWAY_DATA_DIR=str(tmp_path)))
    assert code == 1 and "--workers needs a fixed port" in err


@pytest.mark.slow
async def test_workers_of_a_killed_supervisor_drain_and_keep_the_data_dir_locked(
        cluster_dir: Path) -> None:
    """SIGKILL to the supervisor (embedded default): its workers get SIGTERM from
    the kernel and drain; until they are gone, a new serve on that data directory
    refuses to start, and afterwards one starts."""
    env = clean_env(GATEWAY_DATA_DIR=str(cluster_dir / "data"), GATEWAY_LOG_LEVEL="warning",
                    GATEWAY_SHUTDOWN_GRACE="5")
    supervisor = await ServeProcess(env, cluster_dir).start("--workers", "2")
    refused: ServeProcess | None = None
    successor: ServeProcess | None = None
    workers: list[psutil.Process] = []
    try:
        await supervisor.ready()
        await wait_for(lambda: len(psutil.Process(supervisor.process.pid).children()) == 2, 30)
        workers = await workers_of(supervisor)
        supervisor.send_signal(signal.SIGKILL)

        refused = await ServeProcess(env, cluster_dir).start()
        assert await refused.wait(60) == 1
        assert "already running on data directory" in refused.output

        def gone(process: psutil.Process) -> bool:
            return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE

        await wait_for(lambda: all(gone(w) for w in workers), 30)
        await supervisor.wait(30)

        successor = await ServeProcess(env, cluster_dir).start()
        await successor.ready()
    finally:
        for process in (supervisor, refused, successor):
            if process is not None:
                await process.stop()
        for worker in workers:  # left running when the test failed
            if worker.is_running():
                worker.terminate()
    await wait_for(lambda: not postgres_processes(cluster_dir / "data" / "postgres"), 30)
