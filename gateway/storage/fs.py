"""Filesystem object store (the embedded default), written with aiofiles.

An upload goes to a temporary file in the target folder, is fsynced, and is
renamed into place only on success; on failure the temporary file is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiofiles
import aiofiles.os

from gateway.errors import NotFoundInStorage, StorageError
from gateway.storage.base import FILE_STORE_LOCAL, ObjectStore, ObjectUpload, settle

READ_CHUNK = 256 * 1024


class FilesystemUpload(ObjectUpload):
    def __init__(self, handle: aiofiles.threadpool.binary.AsyncBufferedIOBase, tmp_path: Path,
                 final_path: Path) -> None:
        self._handle = handle
        self._tmp_path = tmp_path
        self._final_path = final_path
        self._next_part = 1

    def __repr__(self) -> str:
        return f"FilesystemUpload({self._final_path})"

    async def write_part(self, number: int, data: bytes) -> None:
        if number != self._next_part:
            raise StorageError(f"part {number} arrived before part {self._next_part}")
        try:
            await self._handle.write(data)
        except OSError as exc:
            raise StorageError(f"writing {self._tmp_path.name}: {exc.strerror}") from exc
        self._next_part += 1

    async def _complete(self) -> None:
        try:
            await self._handle.flush()
            await asyncio.to_thread(os.fsync, self._handle.fileno())
            await self._handle.close()
            await aiofiles.os.rename(self._tmp_path, self._final_path)
            await asyncio.to_thread(_fsync_dir, self._final_path.parent)
        except OSError as exc:
            raise StorageError(f"finishing {self._final_path.name}: {exc.strerror}") from exc

    async def _abort(self) -> None:
        await asyncio.shield(self._handle.close())
        await _remove_if_present(self._tmp_path)

    async def _discard(self) -> None:
        await _remove_if_present(self._final_path)


class FilesystemObjectStore(ObjectStore):
    name = "fs"
    file_store = FILE_STORE_LOCAL
    part_concurrency = 1  # one file handle, written in order

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_for(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError(f"object key escapes the store: {key!r}")
        return path

    async def begin_upload(self, key: str) -> FilesystemUpload:
        final_path = self.path_for(key)
        tmp_path = final_path.parent / f".{final_path.name}.{uuid.uuid4().hex}.tmp"
        async def undo(handle: aiofiles.threadpool.binary.AsyncBufferedIOBase) -> None:
            await handle.close()
            await _remove_if_present(tmp_path)

        try:
            await aiofiles.os.makedirs(final_path.parent, exist_ok=True)
            handle = await settle(aiofiles.open(tmp_path, "xb"), undo)
        except OSError as exc:
            raise StorageError(f"creating {tmp_path.name}: {exc.strerror}") from exc
        return FilesystemUpload(handle, tmp_path, final_path)

    @asynccontextmanager
    async def open(self, key: str, offset: int, length: int) -> AsyncIterator[AsyncIterator[bytes]]:
        path = self.path_for(key)
        try:
            handle = await aiofiles.open(path, "rb")
        except FileNotFoundError:
            raise NotFoundInStorage(f"object {key} is missing") from None
        except OSError as exc:
            raise StorageError(f"opening {key}: {exc.strerror}") from exc
        try:
            await handle.seek(offset)
            yield _read_range(handle, length)
        finally:
            await asyncio.shield(handle.close())  # closed even when the request is cancelled

    async def delete(self, key: str) -> None:
        try:
            await _remove_if_present(self.path_for(key))
        except OSError as exc:
            raise StorageError(f"deleting {key}: {exc.strerror}") from exc

    async def check(self) -> None:
        try:
            await aiofiles.os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"object folder {self.root}: {exc.strerror}") from exc
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"object folder {self.root} is not writable")


async def _read_range(handle: aiofiles.threadpool.binary.AsyncBufferedReader,
                      length: int) -> AsyncIterator[bytes]:
    remaining = length
    while remaining > 0:
        try:
            chunk = await handle.read(min(READ_CHUNK, remaining))
        except OSError as exc:
            raise StorageError(f"reading: {exc.strerror}") from exc
        if not chunk:
            raise StorageError("object is shorter than its record")
        remaining -= len(chunk)
        yield chunk


async def _remove_if_present(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        await aiofiles.os.remove(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
