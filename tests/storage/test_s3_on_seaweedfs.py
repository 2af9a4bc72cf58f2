"""What SeaweedFS (a real S3 API, unlike moto) checks of what the gateway sends:
each part's CRC32 or MD5, a one-request file's Content-MD5 (a body that does not
match is refused, and the upload leaves nothing behind), and the expiry of a
presigned download URL."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import boto3
import pytest
import yarl

from benchmarks.services import S3Endpoint
from gateway.errors import StorageError
from gateway.settings import MiB, S3Settings
from gateway.storage import new_object_key
from gateway.storage import s3 as s3_module
from gateway.storage.s3 import S3ObjectStore, s3_client
from gateway.upload import PartSizer, upload_stream

PART = 5 * MiB


@pytest.fixture
def endpoint(seaweed: S3Endpoint) -> S3Endpoint:
    return seaweed


def settings_for(endpoint: S3Endpoint, checksum: str) -> S3Settings:
    return S3Settings(bucket=endpoint.bucket, endpoint_url=endpoint.url, region=endpoint.region,
                      access_key_id=endpoint.access_key, secret_access_key=endpoint.secret_key,
                      addressing_style="path", part_checksum=checksum)


def leftovers(endpoint: S3Endpoint) -> list[str]:
    admin = boto3.client("s3", endpoint_url=endpoint.url, region_name=endpoint.region,
                         aws_access_key_id=endpoint.access_key,
                         aws_secret_access_key=endpoint.secret_key)
    objects = admin.list_objects_v2(Bucket=endpoint.bucket).get("Contents", [])
    uploads = admin.list_multipart_uploads(Bucket=endpoint.bucket).get("Uploads", [])
    return [o["Key"] for o in objects] + [u["Key"] for u in uploads]


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):
        yield data[start:start + 256 * 1024]


async def store_and_read(store: S3ObjectStore, data: bytes) -> bytes:
    key = new_object_key(1)
    await upload_stream(store, key, chunks(data), sizer=PartSizer(PART), max_size=100 * MiB)
    try:
        async with store.open(key, 0, len(data)) as body:
            return b"".join([chunk async for chunk in body])
    finally:
        await store.delete(key)


def wrong(value: str) -> str:
    """A well-formed checksum of other bytes."""
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 0xFF
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("checksum", ["crc32", "md5"])
async def test_parts_with_their_checksum_are_stored(endpoint: S3Endpoint, checksum: str) -> None:
    data = os.urandom(PART + 4096)
    async with s3_client(settings_for(endpoint, checksum), 8) as client:
        store = S3ObjectStore(client, settings_for(endpoint, checksum), part_concurrency=2)
        assert await store_and_read(store, data) == data
    assert leftovers(endpoint) == []


@pytest.mark.parametrize(("checksum", "compute"), [("crc32", "_crc32_base64"),
                                                   ("md5", "_md5_base64")])
async def test_a_part_whose_checksum_does_not_match_is_refused_and_aborted(
        endpoint: S3Endpoint, checksum: str, compute: str, monkeypatch: pytest.MonkeyPatch) -> None:
    honest = getattr(s3_module, compute)
    monkeypatch.setattr(s3_module, compute, lambda data: wrong(honest(data)))
    settings = settings_for(endpoint, checksum)
    async with s3_client(settings, 8) as client:
        store = S3ObjectStore(client, settings, part_concurrency=2)
        with pytest.raises(StorageError, match="BadDigest"):
            await upload_stream(store, new_object_key(1), chunks(os.urandom(PART + 4096)),
                                sizer=PartSizer(PART), max_size=100 * MiB)
    assert leftovers(endpoint) == []


async def test_a_one_request_file_whose_md5_does_not_match_is_refused(
        endpoint: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(endpoint, "crc32")
    original_begin_whole = S3ObjectStore.begin_whole

    async def with_wrong_md5(self: S3ObjectStore, key: str, md5_base64: str) -> Any:
        return await original_begin_whole(self, key, wrong(md5_base64))

    monkeypatch.setattr(S3ObjectStore, "begin_whole", with_wrong_md5)
    async with s3_client(settings, 8) as client:
        store = S3ObjectStore(client, settings, part_concurrency=2)
        with pytest.raises(StorageError, match="BadDigest"):
            await upload_stream(store, new_object_key(1), chunks(b"small file"),
                                sizer=PartSizer(PART), max_size=100 * MiB)
    assert leftovers(endpoint) == []


async def test_a_presigned_download_url_stops_working_when_it_expires(endpoint: S3Endpoint) -> None:
    settings = settings_for(endpoint, "crc32")
    async with s3_client(settings, 8) as client, aiohttp.ClientSession() as http:
        store = S3ObjectStore(client, settings, part_concurrency=2)
        key = new_object_key(1)
        await upload_stream(store, key, chunks(b"release"), sizer=PartSizer(PART), max_size=MiB)
        url = await store.presigned_download(key, 1, 'attachment; filename="tool.bin"')
        async with http.get(yarl.URL(url, encoded=True)) as fresh:
            assert fresh.status == 200
            assert await fresh.read() == b"release"
            assert fresh.headers["Content-Disposition"] == 'attachment; filename="tool.bin"'
        await asyncio.sleep(2.5)
        async with http.get(yarl.URL(url, encoded=True)) as expired:
            assert expired.status == 403
        await store.delete(key)
    assert leftovers(endpoint) == []
