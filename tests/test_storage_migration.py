"""`gateway storage migrate`: files move between the local folder and S3 while the
registry keeps serving them, and an interrupted run resumes."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
from typing import Any

import boto3

from benchmarks.services import S3Endpoint
from gateway.settings import S3Settings, Settings
from gateway.storage.base import FILE_STORE_LOCAL, FILE_STORE_REMOTE
from tests.harness import Gateway, GatewayFactory
from tests.serve_process import clean_env

FILES = 20


def migrate_env(gateway: Gateway, database_url: str, seaweed: S3Endpoint) -> dict[str, str]:
    return clean_env(GATEWAY_DATABASE_URL=database_url,
                     GATEWAY_DATA_DIR=str(gateway.settings.data_dir), GATEWAY_PART_SIZE="5MiB",
                     **seaweed.gateway_env(""))


async def on_seaweedfs(aiohttp_client: Any, settings: Settings, seaweed: S3Endpoint) -> Gateway:
    """The same gateway settings, storing in SeaweedFS."""
    s3 = S3Settings(bucket=seaweed.bucket, endpoint_url=seaweed.url, region=seaweed.region,
                    access_key_id=seaweed.access_key, secret_access_key=seaweed.secret_key,
                    addressing_style="path")
    admin = boto3.client("s3", endpoint_url=seaweed.url, region_name=seaweed.region,
                         aws_access_key_id=seaweed.access_key,
                         aws_secret_access_key=seaweed.secret_key)
    return await Gateway.start(aiohttp_client, settings.replace(s3=s3), admin)


async def rows(gateway: Gateway) -> list[Any]:
    async with gateway.pool.acquire() as conn:
        return await conn.fetch("SELECT id, file_store, object_key FROM package_files ORDER BY id")


async def test_files_move_to_seaweedfs_online_and_resume_after_a_kill(
        gateway_factory: GatewayFactory, database_url: str, seaweed: S3Endpoint,
        aiohttp_client: Any) -> None:
    on_disk = await gateway_factory("fs")
    dev = await on_disk.developer()
    bodies: dict[str, bytes] = {}
    for n in range(FILES):
        # Sizes from empty to two S3 parts, so each copy takes a moment.
        size = 0 if n == 0 else (6 * 2**20 if n == 1 else 200_000 + n * 37_000)
        bodies[f"f{n}.bin"] = os.urandom(size)
        response = await on_disk.put(dev, bodies[f"f{n}.bin"], file_name=f"f{n}.bin")
        assert response.status == 201

    # The operator points the gateway at S3: new uploads go there, old files still
    # come from disk, by each row's own file_store.
    gateway = await on_seaweedfs(aiohttp_client, on_disk.settings, seaweed)
    assert {row["file_store"] for row in await rows(gateway)} == {FILE_STORE_LOCAL}
    assert await (await gateway.get(dev, file_name="f3.bin")).read() == bodies["f3.bin"]

    failures: list[str] = []
    downloads = 0
    stop = asyncio.Event()

    async def keep_downloading() -> None:
        nonlocal downloads
        while not stop.is_set():
            for name, body in bodies.items():
                response = await gateway.get(dev, file_name=name)
                data = await response.read()
                downloads += 1
                if response.status != 200 or data != body:
                    failures.append(f"{name}: {response.status}")

    downloader = asyncio.create_task(keep_downloading())
    env = migrate_env(gateway, database_url, seaweed)
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "storage", "migrate", "--to", "s3", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert first.stderr is not None
    while line := await asyncio.wait_for(first.stderr.readline(), 60):
        if line.startswith(b"storage migrate: ") and int(line.split()[2].split(b"/")[0]) >= FILES // 2:
            first.send_signal(signal.SIGKILL)  # halfway through, no chance to tidy up
            break
    await first.wait()
    stores = [row["file_store"] for row in await rows(gateway)]
    assert FILE_STORE_REMOTE in stores and FILE_STORE_LOCAL in stores, stores

    second = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "storage", "migrate", "--to", "s3", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(second.communicate(), 120)
    assert second.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["failed"] == [] and 0 < report["moved"] <= FILES // 2 + 1
    stop.set()
    await downloader

    assert failures == [] and downloads >= FILES
    final = await rows(gateway)
    assert {row["file_store"] for row in final} == {FILE_STORE_REMOTE}
    # The killed run may have left a copy it never switched to, or an old file it
    # never removed: the garbage collector finds both through their intents and rows.
    collect = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "gc", "--min-age", "0s", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(collect.communicate(), 120)
    assert collect.returncode == 0, err.decode()
    in_bucket = set(await asyncio.to_thread(gateway.stored_objects))
    assert {row["object_key"] for row in final} == in_bucket
    assert await asyncio.to_thread(gateway.multipart_uploads) == []
    assert [p for p in on_disk.settings.objects_dir.rglob("*") if p.is_file()] == []
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM upload_intents") == 0
    for name, body in bodies.items():
        response = await gateway.get(dev, file_name=name)
        data = await response.read()
        assert data == body and response.headers["X-Checksum-SHA256"] == hashlib.sha256(body).hexdigest()

    # And back: nothing else changes, every file still downloads.
    back = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "storage", "migrate", "--to", "fs", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(back.communicate(), 120)
    assert back.returncode == 0, err.decode()
    assert json.loads(out)["moved"] == FILES
    assert {row["file_store"] for row in await rows(gateway)} == {FILE_STORE_LOCAL}
    for name, body in bodies.items():
        assert await (await gateway.get(dev, file_name=name)).read() == body


async def test_migrate_needs_s3_settings(database_url: str) -> None:
    from tests.serve_process import gateway_cli

    code, _, err = await gateway_cli("storage", "migrate", "--to", "s3",
                                     env=clean_env(GATEWAY_DATABASE_URL=database_url))
    assert code == 1 and "set the GATEWAY_S3_* settings first" in err
