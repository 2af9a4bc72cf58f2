"""The filesystem store keeps objects to the gateway's user: files 0600, folders 0700."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import StorageFull
from gateway.settings import MiB
from gateway.storage import new_object_key
from gateway.storage.fs import FilesystemObjectStore
from gateway.upload import PartSizer, upload_stream


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_objects_temp_files_and_folders_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a usual umask would give 0644 files and 0755 folders
    try:
        store = FilesystemObjectStore(tmp_path / "data" / "objects")
        await store.check()
        key = new_object_key(7)
        release = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            # More than one part before the pause: the upload has begun writing
            # (a body that could still fit in one part is held until it ends).
            yield b"x" * MiB
            yield b"x" * MiB
            await release.wait()
            yield b"y"

        upload = asyncio.ensure_future(upload_stream(store, key, body(), sizer=PartSizer(MiB),
                                                     max_size=10 * MiB))
        folder = store.path_for(key).parent
        for _ in range(200):
            if folder.exists() and any(folder.iterdir()):
                break
            await asyncio.sleep(0.02)
        [temp_file] = list(folder.iterdir())
        assert temp_file.name.endswith(".tmp")
        temp_mode = mode(temp_file)
        release.set()
        await upload
    finally:
        os.umask(old_umask)

    assert temp_mode == 0o600
    assert mode(store.path_for(key)) == 0o600
    for created in (tmp_path / "data", store.root, store.root / "projects", folder):
        assert mode(created) == 0o700, created


async def test_a_one_part_file_is_private_and_a_failed_write_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that fits in one part is written in one call: still 0600 in 0700
    folders, and a disk that fails it (full, say) keeps neither it nor its temp file."""
    old_umask = os.umask(0o022)
    try:
        store = FilesystemObjectStore(tmp_path / "objects")
        await store.check()
        kept = new_object_key(3)
        stored = await upload_stream(store, kept, one_chunk(b"small"), sizer=PartSizer(MiB),
                                     max_size=MiB)
    finally:
        os.umask(old_umask)
    assert stored.parts == 1
    assert store.path_for(kept).read_bytes() == b"small"
    assert mode(store.path_for(kept)) == 0o600
    assert mode(store.path_for(kept).parent) == 0o700

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    lost = new_object_key(3)
    with pytest.raises(StorageFull, match="No space left"):
        await upload_stream(store, lost, one_chunk(b"x" * 1000), sizer=PartSizer(MiB),
                            max_size=MiB)
    assert sorted(p.name for p in store.path_for(kept).parent.iterdir()) == [
        store.path_for(kept).name]


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data
