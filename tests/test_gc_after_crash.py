"""A `gateway serve` process SIGKILLed mid-upload, or after its object completed
but before its row: `gateway gc --min-age 0s` then leaves nothing behind."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.admin import Admin
from gateway.db.identity import IdentityRepository
from gateway.settings import MiB, Settings
from tests.harness import wait_for
from tests.serve_process import clean_env, free_port


class ServedGateway:
    """A `gateway serve` subprocess, and looks at what it left in storage."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, s3_admin: Any) -> None:
        self.settings = settings
        self.pool = pool
        self.s3_admin = s3_admin
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        env = {
            "GATEWAY_DATABASE_URL": settings.database_url or "",
            "GATEWAY_DATA_DIR": str(settings.data_dir),
            "GATEWAY_PART_SIZE": str(settings.part_size),
            "GATEWAY_MIGRATE_ON_START": "false",
            "GATEWAY_GC_INTERVAL": "0",
            "GATEWAY_LOG_FORMAT": "json",
        }
        if settings.s3 is not None:
            env.update({
                "GATEWAY_S3_BUCKET": settings.s3.bucket,
                "GATEWAY_S3_ENDPOINT_URL": settings.s3.endpoint_url or "",
                "GATEWAY_S3_REGION": settings.s3.region or "",
                "GATEWAY_S3_ACCESS_KEY_ID": settings.s3.access_key_id or "",
                "GATEWAY_S3_SECRET_ACCESS_KEY": settings.s3.secret_access_key or "",
            })
        self.env = clean_env(**env)

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--port", str(self.port), env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                assert self.process.returncode is None, "gateway serve exited"
                assert asyncio.get_running_loop().time() < deadline, "gateway serve never listened"
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def gc(self, *args: str) -> dict[str, Any]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "gc", *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return json.loads(out)

    async def developer_token(self) -> tuple[int, str]:
        admin = Admin(IdentityRepository(self.pool))
        project = await admin.create_project("team/app", False)
        await admin.create_user("dev")
        await admin.add_member("team/app", "dev", "developer")
        return project["id"], await admin.create_personal_token("dev", ["api"], None, None)

    # -- what is left ------------------------------------------------------------
    def files(self) -> list[Path]:
        root = self.settings.objects_dir
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []

    def objects(self) -> list[str]:
        if self.settings.s3 is None:
            return [str(p) for p in self.files() if not p.name.endswith(".tmp")]
        listing = self.s3_admin.list_objects_v2(Bucket=self.settings.s3.bucket)
        return [obj["Key"] for obj in listing.get("Contents", [])]

    def unfinished(self) -> list[str]:
        if self.settings.s3 is None:
            return [str(p) for p in self.files() if p.name.endswith(".tmp")]
        listing = self.s3_admin.list_multipart_uploads(Bucket=self.settings.s3.bucket)
        return [upload["Key"] for upload in listing.get("Uploads", [])]

    async def rows(self, table: str) -> int:
        assert table in {"package_files", "upload_intents"}
        return await self.pool.fetchval(f"SELECT count(*) FROM {table}")

    async def assert_nothing_left(self) -> None:
        assert await self.rows("package_files") == 0
        assert await self.rows("upload_intents") == 0
        assert self.objects() == []
        assert self.unfinished() == []


@pytest.fixture
async def served(settings_factory: Callable[..., Settings], storage: str,
                 s3_admin: Any) -> AsyncIterator[ServedGateway]:
    settings = settings_factory(storage)
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    gateway = ServedGateway(settings, pool, s3_admin)
    try:
        yield gateway
    finally:
        if gateway.process is not None and gateway.process.returncode is None:
            await gateway.kill()
        await pool.close()


async def start_put(served: ServedGateway, project_id: int, token: str,
                    size: int) -> asyncio.StreamWriter:
    """A PUT announcing `size` bytes; the caller writes the body."""
    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
    path = f"/api/v4/projects/{project_id}/packages/generic/pkg/1.0.0/file.bin"
    writer.write((f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nPRIVATE-TOKEN: {token}\r\n"
                  f"Content-Length: {size}\r\n\r\n").encode())
    await writer.drain()
    return writer


async def test_sigkill_mid_upload_then_gc_leaves_nothing(served: ServedGateway) -> None:
    await served.start()
    project_id, token = await served.developer_token()
    writer = await start_put(served, project_id, token, 20 * MiB)
    writer.write(os.urandom(12 * MiB))  # two 5 MiB parts stored, a third being filled
    await writer.drain()
    await wait_for(lambda: bool(served.unfinished()))
    await asyncio.sleep(0.3)

    await served.kill()
    writer.close()

    assert served.unfinished() != []  # what a crash leaves
    assert await served.rows("upload_intents") == 1
    summary = await served.gc("--min-age", "0s")
    assert summary["removed"]["stale_intents"] == 1
    assert summary["failed"] == []
    await served.assert_nothing_left()


async def test_sigkill_after_the_object_completed_before_its_row(served: ServedGateway) -> None:
    await served.start()
    project_id, token = await served.developer_token()
    async with served.pool.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        # The file row's insert waits on this lock; reads (the upload's checks) do not.
        await blocker.execute("LOCK TABLE package_files IN EXCLUSIVE MODE")
        writer = await start_put(served, project_id, token, 7 * MiB)
        writer.write(os.urandom(7 * MiB))
        await writer.drain()
        await wait_for(lambda: bool(served.objects()))
        await asyncio.sleep(0.3)
        await served.kill()
        writer.close()
        await transaction.rollback()

    assert len(served.objects()) == 1 and served.unfinished() == []  # a complete orphan
    assert await served.rows("upload_intents") == 1
    assert await served.rows("package_files") == 0
    dry = await served.gc("--min-age", "0s", "--dry-run")
    assert dry["would_remove"]["stale_intents"] == 1
    assert len(served.objects()) == 1

    summary = await served.gc("--min-age", "0s")

    assert summary["removed"] == {"stale_intents": 1, "unfinished_uploads": 0,
                                  "orphan_objects": 0}
    await served.assert_nothing_left()


async def test_gc_default_age_spares_a_fresh_crash(served: ServedGateway) -> None:
    """Without --min-age, leftovers younger than the upload timeout stay."""
    await served.start()
    project_id, token = await served.developer_token()
    writer = await start_put(served, project_id, token, 20 * MiB)
    writer.write(os.urandom(7 * MiB))
    await writer.drain()
    await wait_for(lambda: bool(served.unfinished()))
    await served.kill()
    writer.close()

    summary = await served.gc()

    assert summary["removed"]["stale_intents"] == 0
    assert summary["min_age_s"] == served.settings.upload_timeout + 600
    assert served.unfinished() != []
    await served.gc("--min-age", "0s")
    await served.assert_nothing_left()
