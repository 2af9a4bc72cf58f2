"""Downloads: files of the local store sent by the kernel; S3 files redirected to a
short-lived presigned URL when GATEWAY_DOWNLOAD_MODE=redirect."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from gateway.settings import MiB
from tests.harness import GatewayFactory


async def test_redirect_mode_answers_302_with_digests_and_the_url_works(
        gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("s3", download_mode="redirect")
    dev = await gateway.developer()
    data = os.urandom(6 * MiB)
    assert (await gateway.put(dev, data, file_name="tool.tar.gz")).status == 201

    response = await gateway.client.get(
        gateway.package_path(dev.project_id, "pkg", "1.0.0", "tool.tar.gz"),
        headers=dev.headers, allow_redirects=False)

    assert response.status == 302
    sha256 = hashlib.sha256(data).hexdigest()
    assert response.headers["X-Checksum-SHA256"] == sha256
    assert response.headers["ETag"] == f'"{sha256}"'
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Expires"] == ["300"]
    async with aiohttp.ClientSession() as session:
        async with session.get(location) as followed:
            assert followed.status == 200
            assert await followed.read() == data
            disposition = followed.headers["Content-Disposition"]
            assert 'filename="tool.tar.gz"' in disposition
        async with session.get(location, headers={"Range": "bytes=10-19"}) as ranged:
            assert ranged.status == 206
            assert await ranged.read() == data[10:20]
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT last_downloaded_at IS NOT NULL FROM packages")


async def test_redirect_url_expires(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("s3", download_mode="redirect", download_url_ttl=1.0)
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"short-lived")).status == 201

    response = await gateway.client.get(
        gateway.package_path(dev.project_id, "pkg", "1.0.0", "file.bin"),
        headers=dev.headers, allow_redirects=False)
    query = parse_qs(urlsplit(response.headers["Location"]).query)

    # moto serves presigned URLs without checking their expiry, so what S3
    # enforces is checked here: signed (SigV4) now, valid for one second.
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    signed_at = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - signed_at).total_seconds()) < 5
    assert query["X-Amz-Expires"] == ["1"]


async def test_redirect_mode_keeps_head_and_filesystem_files_proxied(
        gateway_factory: GatewayFactory, storage: str) -> None:
    gateway = await gateway_factory(storage, download_mode="redirect")
    dev = await gateway.developer()
    data = os.urandom(4096)
    assert (await gateway.put(dev, data)).status == 201

    head = await gateway.get(dev, method="HEAD")
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(data))
    assert "Location" not in head.headers
    if storage == "fs":
        got = await gateway.client.get(
            gateway.package_path(dev.project_id, "pkg", "1.0.0", "file.bin"),
            headers=dev.headers, allow_redirects=False)
        assert got.status == 200
        assert await got.read() == data


async def test_local_ranges_where_the_loop_cannot_sendfile(
        gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on uvloop: the file is read in a worker thread and written by us."""
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    data = os.urandom(3 * MiB + 5)
    assert (await gateway.put(dev, data)).status == 201

    async def no_sendfile(*_: object, **__: object) -> None:
        raise NotImplementedError

    monkeypatch.setattr(asyncio.get_running_loop(), "sendfile", no_sendfile)
    whole = await gateway.get(dev)
    ranged = await gateway.get(dev, headers={"Range": f"bytes={MiB - 1}-{2 * MiB + 10}"})

    assert whole.status == 200 and await whole.read() == data
    assert ranged.status == 206 and await ranged.read() == data[MiB - 1:2 * MiB + 11]
