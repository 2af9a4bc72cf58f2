"""Debian's nginx with deploy/nginx/gateway.conf in front of two `gateway serve`
processes sharing one database and one S3 bucket: a 100 MB file streams through."""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from gateway.admin import Admin
from gateway.db.identity import IdentityRepository
from gateway.settings import MiB
from tests.conftest import MOTO_CREDENTIALS
from tests.deploy.nginx import nginx_command, nginx_test, render_site, write_config
from tests.deploy.processes import json_lines, running, wait_until_healthy
from tests.serve_process import clean_env, free_port

SIZE = 100 * MiB
CHUNK = MiB
PART_SIZE = 5 * MiB
# The client holds the rest of the body back once this much is sent, until parts
# are in S3: a proxy that buffered the request body would never get there.
HOLD_AFTER = 4 * PART_SIZE


async def create_uploader(database_url: str) -> str:
    """A developer of demo/app; returns their token."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        admin = Admin(IdentityRepository(pool))
        await admin.create_project("demo/app", False)
        await admin.create_user("builder")
        await admin.add_member("demo/app", "builder", "developer")
        return await admin.create_personal_token("builder", ["api"], None, None)
    finally:
        await pool.close()


async def parts_in_flight(s3_admin: Any, bucket: str) -> int:
    """Parts already stored for the bucket's one unfinished multipart upload."""
    uploads = (await asyncio.to_thread(s3_admin.list_multipart_uploads, Bucket=bucket)).get(
        "Uploads", [])
    if not uploads:
        return 0
    upload = uploads[0]
    listing = await asyncio.to_thread(s3_admin.list_parts, Bucket=bucket, Key=upload["Key"],
                                      UploadId=upload["UploadId"])
    return len(listing.get("Parts", []))


@pytest.mark.slow
async def test_100_mb_streams_through_nginx_to_two_gateways(
        database_url: str, moto_endpoint: str, s3_bucket: str, s3_admin: Any,
        tmp_path: Path) -> None:
    token = await create_uploader(database_url)
    gateway_ports = [free_port(), free_port()]
    env = clean_env(
        GATEWAY_DATABASE_URL=database_url, GATEWAY_MIGRATE_ON_START="false",
        GATEWAY_S3_BUCKET=s3_bucket, GATEWAY_S3_ENDPOINT_URL=moto_endpoint,
        GATEWAY_S3_REGION="us-east-1", GATEWAY_S3_ADDRESSING_STYLE="path",
        GATEWAY_S3_ACCESS_KEY_ID=MOTO_CREDENTIALS["aws_access_key_id"],
        GATEWAY_S3_SECRET_ACCESS_KEY=MOTO_CREDENTIALS["aws_secret_access_key"],
        GATEWAY_PART_SIZE=f"{PART_SIZE}", GATEWAY_PART_CONCURRENCY="2",
        GATEWAY_LOG_FORMAT="json", GATEWAY_DATA_DIR=str(tmp_path / "data"))
    logs = [tmp_path / f"gateway-{n}.log" for n in (1, 2)]
    nginx_port = free_port()
    config = write_config(tmp_path / "nginx", render_site(nginx_port, gateway_ports))
    checked = nginx_test(config)
    assert checked.returncode == 0, checked.stderr
    base = f"http://127.0.0.1:{nginx_port}"
    url = f"{base}/api/v4/projects/demo%2Fapp/packages/generic/app/1.0.0/app.bin"
    headers = {"PRIVATE-TOKEN": token}

    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        rng = random.Random(12)
        for offset in range(0, SIZE, CHUNK):
            if offset == HOLD_AFTER:
                for _ in range(300):
                    if await parts_in_flight(s3_admin, s3_bucket) > 0:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError("no part reached S3 while the client held the body back")
            chunk = rng.randbytes(CHUNK)
            sent.update(chunk)
            yield chunk

    async with (
        running([sys.executable, "-m", "gateway", "serve", "--port", str(gateway_ports[0])],
                env, logs[0]) as first,
        running([sys.executable, "-m", "gateway", "serve", "--port", str(gateway_ports[1])],
                env, logs[1]) as second,
    ):
        for port, process, log in zip(gateway_ports, (first, second), logs, strict=True):
            await wait_until_healthy(f"http://127.0.0.1:{port}/-/health", process, log)
        nginx_log = tmp_path / "nginx.log"
        async with running(nginx_command(config), env, nginx_log) as nginx:
            await wait_until_healthy(f"{base}/-/health", nginx, nginx_log)
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                # Streamed with Content-Length (not chunked), as curl --upload-file sends it.
                async with http.put(url, data=body(),
                                    headers={**headers, "Content-Length": str(SIZE)}) as response:
                    assert response.status == 201, await response.text()

                received, length = hashlib.sha256(), 0
                async with http.get(url, headers=headers) as response:
                    assert response.status == 200, await response.text()
                    assert response.headers["X-Checksum-SHA256"] == sent.hexdigest()
                    async for chunk in response.content.iter_chunked(CHUNK):
                        received.update(chunk)
                        length += len(chunk)
                assert length == SIZE
                assert received.hexdigest() == sent.hexdigest()

                # Round robin: a few more requests reach both replicas whatever the order.
                for n in range(4):
                    async with http.head(url, headers={**headers,
                                                       "X-Request-Id": f"deploy-{n}"}) as response:
                        assert response.status == 200

    requests = [[line for line in json_lines(log) if line.get("event") == "request"]
                for log in logs]
    package_requests = [[line for line in lines if "/packages/generic/" in (line.get("path") or "")]
                        for lines in requests]
    assert all(package_requests), f"each replica serves traffic: {package_requests}"
    puts = [line for lines in package_requests for line in lines if line["method"] == "PUT"]
    assert [line["status"] for line in puts] == [201]
    gets = [line for lines in package_requests for line in lines if line["method"] == "GET"]
    assert [(line["status"], line["bytes_out"]) for line in gets] == [(200, SIZE)]
    # nginx passes the client's X-Request-Id on, and makes one up otherwise.
    request_ids = {line["request_id"] for lines in package_requests for line in lines}
    assert {f"deploy-{n}" for n in range(4)} <= request_ids
    assert re.fullmatch(r"[0-9a-f]{32}", puts[0]["request_id"])
    # Nothing left half-done in the bucket: one object, no multipart upload.
    assert await parts_in_flight(s3_admin, s3_bucket) == 0
    listing = s3_admin.list_objects_v2(Bucket=s3_bucket)
    assert [obj["Size"] for obj in listing.get("Contents", [])] == [SIZE]
