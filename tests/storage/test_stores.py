"""Both object stores, through the upload pipeline: complete, abort, cancel, read."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import NotFoundInStorage, StorageError
from gateway.settings import MiB, S3Settings, Settings
from gateway.storage import ObjectStore, new_object_key, open_object_store
from gateway.storage.fs import FilesystemObjectStore
from gateway.upload import PartSizer, upload_stream


@pytest.fixture
async def store(settings_factory: Callable[..., Settings], storage: str) -> AsyncIterator[ObjectStore]:
    async with open_object_store(settings_factory(storage)) as opened:
        yield opened


def leftovers(store: ObjectStore, settings_factory: Callable[..., Settings], s3_admin: Any) -> list[str]:
    """Objects, temp files and multipart uploads still present in the store."""
    if store.name == "fs":
        root = store.root  # type: ignore[attr-defined]
        return [str(p) for p in root.rglob("*") if p.is_file()]
    bucket = store._bucket  # type: ignore[attr-defined]
    objects = s3_admin.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [o["Key"] for o in objects] + [u["Key"] for u in uploads]


async def body(data: bytes, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start:start + chunk]


async def test_upload_then_ranged_read(store: ObjectStore) -> None:
    data = os.urandom(11 * MiB)
    key = new_object_key(1)
    stored = await upload_stream(store, key, body(data), sizer=PartSizer(5 * MiB),
                                 max_size=100 * MiB)
    assert stored.parts == 3
    assert stored.digests.sha256 == hashlib.sha256(data).hexdigest()
    async with store.open(key, 5 * MiB - 3, 10) as chunks:
        assert b"".join([c async for c in chunks]) == data[5 * MiB - 3:5 * MiB + 7]
    await store.delete(key)
    await store.delete(key)  # already gone: not an error
    with pytest.raises(NotFoundInStorage):
        async with store.open(key, 0, 1):
            pass


async def test_failing_body_aborts(store: ObjectStore, settings_factory: Callable[..., Settings],
                                    s3_admin: Any) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(7 * MiB)
        raise RuntimeError("body broke")

    with pytest.raises(RuntimeError, match="body broke"):
        await upload_stream(store, new_object_key(1), broken(), sizer=PartSizer(5 * MiB),
                            max_size=100 * MiB)
    assert leftovers(store, settings_factory, s3_admin) == []


async def test_cancelled_upload_aborts(store: ObjectStore, settings_factory: Callable[..., Settings],
                                    s3_admin: Any) -> None:
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield os.urandom(1 * MiB)
            started.set()
            await asyncio.sleep(0.01)

    task = asyncio.ensure_future(upload_stream(store, new_object_key(1), endless(),
                                               sizer=PartSizer(5 * MiB), max_size=1024 * MiB))
    await started.wait()
    await asyncio.sleep(0.3)  # some parts written
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(store, settings_factory, s3_admin) == []


async def test_missing_bucket_fails_the_check(settings_factory: Callable[..., Settings],
                                              moto_endpoint: str) -> None:
    settings = settings_factory("fs").replace(s3=S3Settings(
        bucket="no-such-bucket-here", endpoint_url=moto_endpoint, region="us-east-1",
        access_key_id="testing", secret_access_key="testing"))
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        async with open_object_store(settings):
            pass


def test_fs_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    store = FilesystemObjectStore(tmp_path / "objects")
    with pytest.raises(StorageError):
        store.path_for("../outside")
