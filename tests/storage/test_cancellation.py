"""Cancellation at the worst moments leaves nothing in storage: while S3 creates
the multipart upload, and after the object became visible but before the upload
counted as complete. Only latency is injected; the stores and S3 are real."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.errors import UploadTimeout
from gateway.settings import MiB, Settings
from gateway.storage import new_object_key, open_object_store
from gateway.storage import fs as fs_module
from gateway.upload import PartSizer, upload_stream


class SlowAfter:
    """Forwards to the real aiobotocore client; one call's answer comes late."""

    def __init__(self, client: Any, method: str, delay: float) -> None:
        self._client, self._method, self._delay = client, method, delay

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if name != self._method:
            return target

        async def slow(**kwargs: Any) -> Any:
            result = await target(**kwargs)  # done in S3...
            await asyncio.sleep(self._delay)  # ...but we hear of it late
            return result
        return slow


async def body(size: int) -> AsyncIterator[bytes]:
    yield os.urandom(size)


def s3_leftovers(s3_admin: Any, bucket: str) -> list[str]:
    objects = s3_admin.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [o["Key"] for o in objects] + [u["Key"] for u in uploads]


@pytest.mark.parametrize("method", ["create_multipart_upload", "complete_multipart_upload"])
async def test_s3_timeout_at_the_worst_moment_leaves_nothing(
        settings_factory: Callable[..., Settings], s3_admin: Any, method: str) -> None:
    settings = settings_factory("s3")
    async with open_object_store(settings) as store:
        store._client = SlowAfter(store._client, method, delay=1.0)  # type: ignore[attr-defined]
        with pytest.raises(UploadTimeout):
            await upload_stream(store, new_object_key(1), body(6 * MiB), sizer=PartSizer(5 * MiB),
                                max_size=100 * MiB, timeout=0.5)
    assert s3_leftovers(s3_admin, settings.s3.bucket) == []


async def test_fs_timeout_after_rename_leaves_nothing(settings_factory: Callable[..., Settings],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_factory("fs")
    real_fsync_dir = fs_module._fsync_dir

    def slow_fsync_dir(path: Any) -> None:  # runs after the rename made the file visible
        time.sleep(0.6)
        real_fsync_dir(path)

    monkeypatch.setattr(fs_module, "_fsync_dir", slow_fsync_dir)
    async with open_object_store(settings) as store:
        with pytest.raises(UploadTimeout):
            await upload_stream(store, new_object_key(1), body(1 * MiB), sizer=PartSizer(5 * MiB),
                                max_size=100 * MiB, timeout=0.3)
    assert [p for p in settings.objects_dir.rglob("*") if p.is_file()] == []


async def test_cancel_while_creating_the_temp_file_leaves_nothing(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory("fs")
    async with open_object_store(settings) as store:
        for _ in range(20):  # cancel at varying points around the open
            task = asyncio.ensure_future(store.begin_upload(new_object_key(1)))
            await asyncio.sleep(0)
            task.cancel()
            try:
                upload = await task
            except asyncio.CancelledError:
                continue
            await upload.abort()
    await asyncio.sleep(0.2)  # settle() finishes in the background
    assert [p for p in settings.objects_dir.rglob("*") if p.is_file()] == []


async def test_fs_cancel_during_a_part_write_keeps_the_file_open_until_it_ends(
        settings_factory: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker thread cannot be stopped: the upload's descriptor stays open (its
    number not reused by another file or socket) until the write ends."""
    settings = settings_factory("fs")
    real_write = fs_module._write
    seen: list[str] = []

    def slow_write(fd: int, data: Any, sync: bool) -> None:
        time.sleep(0.5)  # the upload is cancelled meanwhile
        try:
            os.fstat(fd)
        except OSError as exc:
            seen.append(f"closed under the write: {exc}")
            raise
        real_write(fd, data, sync)
        seen.append("written")

    monkeypatch.setattr(fs_module, "_write", slow_write)
    async with open_object_store(settings) as store:
        upload = asyncio.ensure_future(upload_stream(
            store, new_object_key(1), body(3 * MiB), sizer=PartSizer(1 * MiB), max_size=100 * MiB))
        await asyncio.sleep(0.2)
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
    assert seen == ["written"]
    assert [p for p in settings.objects_dir.rglob("*") if p.is_file()] == []
