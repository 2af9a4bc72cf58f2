"""Clients cannot make the gateway hold memory or uploads: stalled and trickling
bodies are cut off (408) within the buffer budget, and bodies are stored as sent,
never decompressed. Each case checks that nothing is left behind."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import os
import socket
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
import pytest

from benchmarks.measure import RssSampler
from gateway.admin import Admin
from gateway.db.identity import IdentityRepository
from gateway.keys import UPLOAD_BUDGET
from gateway.settings import MiB
from tests.conftest import MOTO_CREDENTIALS
from tests.harness import Gateway, GatewayFactory, Identity, parse_response, wait_for
from tests.serve_process import terminate


# -- bodies stored exactly as sent ------------------------------------------------

ENCODINGS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    # Never decoded, so any bytes do: a brotli decoder may not even be installed.
    "br": lambda data: b"\x1b" + os.urandom(1024),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
async def test_an_encoded_body_is_stored_byte_for_byte(gateway: Gateway, encoding: str) -> None:
    dev = await gateway.developer()
    body = ENCODINGS[encoding](os.urandom(256 * 1024) + b"compressible " * 100_000)
    response = await gateway.put(dev, body, headers={"Content-Encoding": encoding},
                                 params={"select": "package_file"})
    assert response.status == 200, await response.text()
    record = await response.json()
    assert record["size"] == len(body)
    assert record["file_sha256"] == hashlib.sha256(body).hexdigest()
    assert record["file_md5"] == hashlib.md5(body).hexdigest()

    download = await gateway.get(dev, headers={"Accept-Encoding": "identity"})
    assert download.status == 200
    assert "Content-Encoding" not in download.headers
    assert await download.read() == body
    assert download.headers["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()


async def test_a_gzip_bomb_is_stored_at_its_sent_size(gateway: Gateway) -> None:
    """64 MiB of zeros gzip to about 64 KiB: 64 KiB is what gets stored."""
    dev = await gateway.developer()
    bomb = gzip.compress(bytes(64 * MiB))
    response = await gateway.put(dev, bomb, headers={"Content-Encoding": "gzip"},
                                 params={"select": "package_file"})
    assert response.status == 200
    assert (await response.json())["size"] == len(bomb) < 1 * MiB
    stored = await gateway.get(dev, headers={"Accept-Encoding": "identity"})
    assert await stored.read() == bomb


# -- bodies that go quiet ---------------------------------------------------------

async def open_upload(host: str, port: int, path: str, headers: dict[str, str],
                      content_length: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A PUT whose headers announce `content_length`; the body is up to the caller."""
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"PUT {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {content_length}",
             *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    return reader, writer


async def read_answer(reader: asyncio.StreamReader) -> Any:
    head = await reader.readuntil(b"\r\n\r\n")
    response = parse_response(head)
    body = await reader.readexactly(int(response.headers["content-length"]))
    return parse_response(head + body)


async def test_a_client_sending_one_byte_every_few_seconds_gets_408(
        gateway_factory: GatewayFactory, storage: str) -> None:
    gateway = await gateway_factory(storage, body_idle_timeout=1.0)
    dev = await gateway.developer()
    host, port = gateway.client.server.host, gateway.client.server.port
    reader, writer = await open_upload(host, port, gateway.package_path(dev.project_id, "pkg",
                                                                        "1.0.0", "file.bin"),
                                       dev.headers, content_length=100)
    started = time.monotonic()

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(2.5)  # slower than the idle timeout

    sender = asyncio.ensure_future(trickle())
    try:
        answer = await asyncio.wait_for(read_answer(reader), 30)
    finally:
        sender.cancel()
        writer.close()
    elapsed = time.monotonic() - started
    assert answer.status == 408
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"message": "408 Request Timeout - no data received for 1 seconds"}
    assert 1.0 <= elapsed < 10
    await gateway.wait_until_idle()
    await gateway.assert_nothing_stored()
    assert await gateway.count("packages") == 0


async def test_a_client_that_stops_mid_part_gets_408_and_frees_its_buffer(
        gateway_factory: GatewayFactory, storage: str) -> None:
    gateway = await gateway_factory(storage, body_idle_timeout=1.0, upload_buffer_bytes=16 * MiB)
    dev = await gateway.developer()
    host, port = gateway.client.server.host, gateway.client.server.port
    path = gateway.package_path(dev.project_id, "pkg", "1.0.0", "file.bin")
    reader, writer = await open_upload(host, port, path, dev.headers, content_length=40 * MiB)
    writer.write(os.urandom(7 * MiB))  # one 5 MiB part written, the next one half full
    await writer.drain()
    try:
        answer = await asyncio.wait_for(read_answer(reader), 30)
    finally:
        writer.close()
    assert answer.status == 408
    await gateway.wait_until_idle()
    assert gateway.app[UPLOAD_BUDGET].in_use == 0
    await gateway.assert_nothing_stored()

    # The budget is whole again: a normal upload goes through.
    response = await gateway.put(dev, os.urandom(12 * MiB))
    assert response.status == 201


async def test_clients_that_stall_early_hold_none_of_the_budget(
        gateway_factory: GatewayFactory, storage: str) -> None:
    """Eight uploads announcing 100 MB that send a byte, or a few KiB, and stall:
    with a 16 MiB budget they would hold it all, part by part, and every other
    upload would wait. A part is reserved only once 64 KiB of it is here."""
    gateway = await gateway_factory(storage, upload_buffer_bytes=16 * MiB)
    dev = await gateway.developer()
    host, port = gateway.client.server.host, gateway.client.server.port
    stalled = []
    try:
        for n in range(8):
            path = gateway.package_path(dev.project_id, "pkg", "1.0.0", f"stalled-{n}.bin")
            reader, writer = await open_upload(host, port, path, dev.headers,
                                               content_length=100_000_000)
            writer.write(b"x" if n % 2 else os.urandom(4096))
            await writer.drain()
            stalled.append(writer)
        await wait_for(lambda: gateway.registry.uploads_in_flight == 8)
        assert gateway.app[UPLOAD_BUDGET].in_use == 0

        small = await asyncio.wait_for(gateway.put(dev, b"abc", file_name="small.txt"), 10)
        assert small.status == 201
        large = await asyncio.wait_for(gateway.put(dev, os.urandom(12 * MiB),
                                                   file_name="large.bin"), 30)
        assert large.status == 201
    finally:
        for writer in stalled:
            writer.close()
    await gateway.wait_until_idle()
    assert gateway.app[UPLOAD_BUDGET].in_use == 0


# -- 20 stalled uploaders against `gateway serve`, RSS measured ------------------

BUDGET = 48 * MiB
IDLE_TIMEOUT = 3.0
PART_SIZE = 8 * MiB
UPLOADERS = 20
SENT = 8 * MiB - 1  # one byte short of a part: all of it is held while the client waits
ANNOUNCED = 64 * MiB
# What the process may add beyond the budget: per-connection buffers (aiohttp's and
# one pending body chunk each), one part briefly held twice while it is frozen, and
# the S3 client's send buffers and allocator slack.
OVERHEAD = 40 * MiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServedGateway:
    """`gateway serve` as its own process, on the test's database and storage."""

    process: asyncio.subprocess.Process
    base_url: str
    port: int
    pool: asyncpg.Pool
    objects_dir: Path
    bucket: str | None
    s3_admin: Any

    async def developer(self) -> Identity:
        admin = Admin(IdentityRepository(self.pool))
        project = await admin.create_project("group/project", False)
        await admin.create_user("dev")
        await admin.add_member("group/project", "dev", "developer")
        token = await admin.create_personal_token("dev", ["api"], None, None)
        return Identity("dev", token, project["id"], project["path"])

    def stored(self) -> list[str]:
        """Objects, temporary files and multipart uploads."""
        if self.bucket is None:
            return [str(p) for p in self.objects_dir.rglob("*") if p.is_file()]
        objects = self.s3_admin.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        uploads = self.s3_admin.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        return [o["Key"] for o in objects] + [u["Key"] for u in uploads]

    async def assert_nothing_stored(self) -> None:
        async with self.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM package_files") == 0
        assert await asyncio.to_thread(self.stored) == []


@pytest.fixture
def serve_gateway(tmp_path: Path, database_url: str, moto_endpoint: str, s3_admin: Any,
                  request: pytest.FixtureRequest) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def serve(storage: str, **settings: str) -> AsyncIterator[ServedGateway]:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update({
            "GATEWAY_DATABASE_URL": database_url, "GATEWAY_MIGRATE_ON_START": "false",
            "GATEWAY_DATA_DIR": str(tmp_path / "data"), "GATEWAY_PORT": str(port),
            "GATEWAY_LOG_LEVEL": "warning",
        })
        bucket = None
        if storage == "s3":
            bucket = request.getfixturevalue("s3_bucket")
            env.update({
                "GATEWAY_S3_BUCKET": bucket, "GATEWAY_S3_ENDPOINT_URL": moto_endpoint,
                "GATEWAY_S3_REGION": "us-east-1",
                "GATEWAY_S3_ACCESS_KEY_ID": MOTO_CREDENTIALS["aws_access_key_id"],
                "GATEWAY_S3_SECRET_ACCESS_KEY": MOTO_CREDENTIALS["aws_secret_access_key"],
            })
        env.update({f"GATEWAY_{k.upper()}": v for k, v in settings.items()})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        base_url = f"http://127.0.0.1:{port}"
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    assert process.returncode is None, "gateway serve exited"
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with http.get(f"{base_url}/-/health") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.1)
            yield ServedGateway(process, base_url, port, pool, tmp_path / "data" / "objects",
                                bucket, s3_admin)
        finally:
            await pool.close()
            await terminate(process)

    return serve


@dataclass
class StalledUpload:
    status: int
    body: Any
    answered_at: float


STALLED_BODY = os.urandom(SENT)


async def stalled_upload(port: int, path: str, headers: dict[str, str]) -> StalledUpload:
    reader, writer = await open_upload("127.0.0.1", port, path, headers, content_length=ANNOUNCED)
    try:
        writer.write(STALLED_BODY)
        answer = await asyncio.wait_for(read_answer(reader), 120)
        return StalledUpload(answer.status, answer.json(), time.monotonic())
    finally:
        writer.close()


async def test_stalled_uploaders_hold_no_more_than_the_budget_and_are_cut_off(
        serve_gateway: Callable[..., Any], storage: str) -> None:
    """20 clients announce 64 MiB, send 8 MiB minus one byte and stop (the issue's
    case, +360 MB before). With a 48 MiB budget, six hold a part at a time; the
    others are not read until one of those is cut off. Each gets its 408 once its
    body went quiet for the idle timeout, and the process's RSS never grows by more
    than the budget plus a fixed overhead."""
    async with serve_gateway(storage, upload_buffer_bytes=str(BUDGET),
                             body_idle_timeout=str(IDLE_TIMEOUT), part_size=str(PART_SIZE),
                             part_concurrency="2") as served:
        dev = await served.developer()
        path = f"/api/v4/projects/{dev.project_id}/packages/generic/pkg/1.0.0/file.bin"
        # Warm up every code path (S3 client, hashing threads) before the baseline.
        warm = await stalled_upload(served.port, path, dev.headers)
        assert warm.status == 408
        await asyncio.sleep(0.5)
        baseline = psutil.Process(served.process.pid).memory_info().rss

        started = time.monotonic()
        with RssSampler(psutil.Process(served.process.pid)) as rss:
            results = await asyncio.gather(*(stalled_upload(served.port, path, dev.headers)
                                             for _ in range(UPLOADERS)))
        elapsed = time.monotonic() - started

        growth = rss.peak - baseline
        print(f"\n[{storage}] baseline RSS {baseline / MiB:.1f} MiB, peak {rss.peak / MiB:.1f} MiB, "
              f"growth {growth / MiB:.1f} MiB (budget {BUDGET / MiB:.0f} MiB + overhead "
              f"{OVERHEAD / MiB:.0f} MiB), all cut off in {elapsed:.1f} s")
        assert growth <= BUDGET + OVERHEAD
        for result in results:
            assert result.status == 408, result.body
            assert result.body == {"message": "408 Request Timeout - no data received for 3 seconds"}
        # Six at a time: four rounds of the idle timeout, not one, nor twenty.
        answered = sorted(result.answered_at - started for result in results)
        assert answered[0] >= IDLE_TIMEOUT
        assert answered[-1] >= 4 * IDLE_TIMEOUT
        assert elapsed < 4 * IDLE_TIMEOUT + 30
        await asyncio.sleep(0.5)  # aborts run as the answers go out
        await served.assert_nothing_stored()


async def test_gateway_serve_stores_an_encoded_body_as_sent(serve_gateway: Callable[..., Any]) -> None:
    """`serve` builds its server from the same app: no decoding there either."""
    async with serve_gateway("fs") as served:
        dev = await served.developer()
        url = (f"{served.base_url}/api/v4/projects/{dev.project_id}/packages/generic/"
               "pkg/1.0.0/file.tar.gz")
        body = gzip.compress(b"release notes " * 100_000)
        async with aiohttp.ClientSession(auto_decompress=False) as http:
            async with http.put(url, data=body, headers={**dev.headers,
                                                         "Content-Encoding": "gzip"}) as response:
                assert response.status == 201
            async with http.get(url, headers=dev.headers) as response:
                assert await response.read() == body
                assert response.headers["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()
