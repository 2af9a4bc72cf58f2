"""Downloading generic package files: headers, ranges, conditional requests."""

from __future__ import annotations

import hashlib
import os

import pytest

from gateway.settings import MiB
from tests.harness import Gateway, Identity

DATA = os.urandom(6 * MiB + 17)  # spans two 5 MiB parts on S3
SHA256 = hashlib.sha256(DATA).hexdigest()


async def published(gateway: Gateway) -> Identity:
    dev = await gateway.developer()
    assert (await gateway.put(dev, DATA, file_name="tool.tar.gz")).status == 201
    return dev


async def test_download_headers(gateway: Gateway) -> None:
    dev = await published(gateway)
    response = await gateway.get(dev, file_name="tool.tar.gz")

    assert response.status == 200
    assert await response.read() == DATA
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"tool.tar.gz\"; filename*=UTF-8''tool.tar.gz")
    assert response.headers["X-Checksum-SHA256"] == SHA256
    assert response.headers["ETag"] == f'"{SHA256}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Request-Id"]


async def test_head_sends_headers_only(gateway: Gateway) -> None:
    dev = await published(gateway)
    response = await gateway.get(dev, file_name="tool.tar.gz", method="HEAD")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["X-Checksum-SHA256"] == SHA256
    assert await response.read() == b""


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-0", 0, 0),
    ("bytes=5242870-5242899", 5242870, 5242899),  # across the part boundary
    (f"bytes={len(DATA) - 10}-", len(DATA) - 10, len(DATA) - 1),
    ("bytes=-7", len(DATA) - 7, len(DATA) - 1),
    (f"bytes=100-{10 * len(DATA)}", 100, len(DATA) - 1),
])
async def test_ranges(gateway: Gateway, header: str, start: int, end: int) -> None:
    dev = await published(gateway)
    response = await gateway.get(dev, file_name="tool.tar.gz", headers={"Range": header})
    assert response.status == 206
    assert await response.read() == DATA[start:end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["Content-Length"] == str(end - start + 1)


async def test_unsatisfiable_range_is_416(gateway: Gateway) -> None:
    dev = await published(gateway)
    response = await gateway.get(dev, file_name="tool.tar.gz",
                                 headers={"Range": f"bytes={len(DATA)}-"})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-1", "bytes=9-3", "bytes=x-"])
async def test_ranges_we_do_not_serve_give_the_whole_file(gateway: Gateway, header: str) -> None:
    dev = await published(gateway)
    response = await gateway.get(dev, file_name="tool.tar.gz", headers={"Range": header})
    assert response.status == 200
    assert await response.read() == DATA


async def test_if_range_with_a_stale_etag_sends_the_whole_file(gateway: Gateway) -> None:
    dev = await published(gateway)
    fresh = await gateway.get(dev, file_name="tool.tar.gz",
                              headers={"Range": "bytes=0-9", "If-Range": f'"{SHA256}"'})
    assert fresh.status == 206
    stale = await gateway.get(dev, file_name="tool.tar.gz",
                              headers={"Range": "bytes=0-9", "If-Range": '"0000"'})
    assert stale.status == 200
    assert await stale.read() == DATA


async def test_if_none_match_gives_304(gateway: Gateway) -> None:
    dev = await published(gateway)
    response = await gateway.get(dev, file_name="tool.tar.gz",
                                 headers={"If-None-Match": f'W/"x", "{SHA256}"'})
    assert response.status == 304
    assert response.headers["ETag"] == f'"{SHA256}"'
    assert await response.read() == b""
    other = await gateway.get(dev, file_name="tool.tar.gz", headers={"If-None-Match": '"x"'})
    assert other.status == 200


async def test_empty_file_download(gateway: Gateway) -> None:
    dev = await gateway.developer()
    await gateway.put(dev, b"")
    response = await gateway.get(dev)
    assert response.status == 200
    assert response.headers["Content-Length"] == "0"
    assert await response.read() == b""
    ranged = await gateway.get(dev, headers={"Range": "bytes=0-"})
    assert ranged.status == 416


async def test_download_bumps_last_downloaded_at(gateway: Gateway) -> None:
    dev = await published(gateway)
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT last_downloaded_at FROM packages") is None
    await (await gateway.get(dev, file_name="tool.tar.gz")).read()
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT last_downloaded_at FROM packages") is not None


@pytest.mark.parametrize(("name", "version", "file_name"), [
    ("nope", "1.0.0", "tool.tar.gz"), ("pkg", "9.9.9", "tool.tar.gz"), ("pkg", "1.0.0", "nope"),
])
async def test_missing_package_or_file_is_404(gateway: Gateway, name: str, version: str,
                                              file_name: str) -> None:
    dev = await published(gateway)
    response = await gateway.get(dev, name=name, version=version, file_name=file_name)
    assert response.status == 404
    assert await response.json() == {"message": "404 Not found"}  # GitLab's RecordNotFound text


async def test_object_missing_from_storage_is_a_clean_503(gateway: Gateway) -> None:
    dev = await published(gateway)
    async with gateway.pool.acquire() as conn:
        key = await conn.fetchval("SELECT object_key FROM package_files")
    await gateway.registry.store.delete(key)
    response = await gateway.get(dev, file_name="tool.tar.gz")
    assert response.status == 503
    assert (await response.json())["message"].startswith("503 Service Unavailable")
