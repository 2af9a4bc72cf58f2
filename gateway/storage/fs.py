"""Filesystem object store (the embedded default).

An upload goes to a temporary file in the target folder, is fsynced, and is
renamed into place only on success; on failure the temporary file is removed.
Blocking file calls run in worker threads (aiofiles, or `asyncio.to_thread` on
the upload's descriptor where a part is written and synced in one hop).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import BinaryIO

import aiofiles
import aiofiles.os

from gateway.errors import NotFoundInStorage, StorageError, StorageFull
from gateway.storage.base import (
    FILE_STORE_LOCAL, OBJECT_KEY_PREFIX, OBJECT_KEY_RE, ObjectStore, ObjectUpload, StoredItem,
    WholeObjectUpload, settle,
)

READ_CHUNK = 256 * 1024
# `.<object name>.<random>.tmp`, beside where the object will be.
_TEMP_NAME_RE = re.compile(r"\A\.([0-9a-f]{32})\.[0-9a-f]{32}\.tmp\Z")
# Objects are readable by the gateway's user only.
FILE_MODE = 0o600
DIR_MODE = 0o700


class FilesystemUpload(ObjectUpload):
    """Parts are written in order to a temporary file through its descriptor, in a
    worker thread. From the second part on, each is flushed to disk as it lands,
    so the disk works while later parts are received and hashed rather than all
    at once when the upload completes; a one-part file is synced once, at the end."""

    def __init__(self, fd: int, tmp_path: Path, final_path: Path) -> None:
        self._fd = fd
        self._tmp_path = tmp_path
        self._final_path = final_path
        self._next_part = 1
        # The last part's write: its thread runs on if we are cancelled, and the
        # descriptor must stay open (its number not reused) until it ends.
        self._writing: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"FilesystemUpload({self._final_path})"

    async def write_part(self, number: int, data: bytes | bytearray) -> None:
        if number != self._next_part:
            raise StorageError(f"part {number} arrived before part {self._next_part}")
        self._writing = asyncio.ensure_future(asyncio.to_thread(_write, self._fd, data, number > 1))
        try:
            await asyncio.shield(self._writing)
        except OSError as exc:
            raise _write_failed(f"writing {self._tmp_path.name}", exc) from exc
        self._next_part += 1

    async def _complete(self) -> None:
        try:
            await asyncio.to_thread(os.fsync, self._fd)
            self._close()
            await aiofiles.os.rename(self._tmp_path, self._final_path)
            await asyncio.to_thread(_fsync_dir, self._final_path.parent)
        except OSError as exc:
            raise _write_failed(f"finishing {self._final_path.name}", exc) from exc

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    async def _abort(self) -> None:
        if self._writing is not None:
            await asyncio.wait({self._writing})
        self._close()
        await _remove_if_present(self._tmp_path)

    async def _discard(self) -> None:
        await _remove_if_present(self._final_path)


class FilesystemWholeUpload(WholeObjectUpload):
    """A one-part file, written when it completes in one worker-thread call
    (temporary file, data, fsync, rename, folder fsync) rather than one hop each."""

    def __init__(self, final_path: Path) -> None:
        self._final_path = final_path

    def __repr__(self) -> str:
        return f"FilesystemWholeUpload({self._final_path})"

    async def _write(self, data: bytes | bytearray) -> None:
        try:
            await asyncio.to_thread(_write_whole, self._final_path, data)
        except OSError as exc:
            raise _write_failed(f"writing {self._final_path.name}", exc) from exc

    async def _discard(self) -> None:
        await _remove_if_present(self._final_path)


def _write_whole(final_path: Path, data: bytes | bytearray) -> None:
    """What an upload's begin, write and complete do, in one blocking call; the
    temporary file is removed if any step fails."""
    _make_private_dirs(final_path.parent)
    tmp_path = final_path.parent / _temp_name(final_path.name)
    fd = _create_private(tmp_path)
    try:
        try:
            _write(fd, data, sync=False)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp_path, final_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        raise
    _fsync_dir(final_path.parent)


def _write_failed(what: str, exc: OSError) -> StorageError:
    """A full disk is 507 (free space, then retry), anything else 503."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return (StorageFull if full else StorageError)(f"{what}: {exc.strerror}")


def _write(fd: int, data: bytes | bytearray, sync: bool) -> None:
    """All of `data`, then, if `sync`, the file's data on disk (a worker
    thread's call: it blocks)."""
    with memoryview(data) as view:
        while view:
            view = view[os.write(fd, view):]
    if sync:
        os.fdatasync(fd)


def _create_private(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)


class FilesystemObjectStore(ObjectStore):
    name = "fs"
    file_store = FILE_STORE_LOCAL
    part_concurrency = 1  # one file handle, written in order
    failed_begin_may_leave_something = False  # begin_upload removes its own temp file

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_for(self, key: str) -> Path:
        if OBJECT_KEY_RE.match(key):
            # A key the gateway made holds no user text and no `..`: nothing to
            # resolve (a realpath is a syscall per folder, on the event loop).
            return self.root / key
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise StorageError(f"object key escapes the store: {key!r}")
        return path

    async def begin_whole(self, key: str, md5_base64: str) -> FilesystemWholeUpload:
        return FilesystemWholeUpload(self.path_for(key))

    async def begin_upload(self, key: str) -> FilesystemUpload:
        final_path = self.path_for(key)
        tmp_path = final_path.parent / _temp_name(final_path.name)
        async def undo(fd: int) -> None:
            os.close(fd)
            await _remove_if_present(tmp_path)

        try:
            await asyncio.to_thread(_make_private_dirs, final_path.parent)
            fd = await settle(asyncio.to_thread(_create_private, tmp_path), undo)
        except OSError as exc:
            raise _write_failed(f"creating {tmp_path.name}", exc) from exc
        return FilesystemUpload(fd, tmp_path, final_path)

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

    async def open_local(self, key: str) -> BinaryIO:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise NotFoundInStorage(f"object {key} is missing") from None
        except OSError as exc:
            raise StorageError(f"opening {key}: {exc.strerror}") from exc

    async def delete(self, key: str) -> None:
        try:
            await _remove_if_present(self.path_for(key))
        except OSError as exc:
            raise StorageError(f"deleting {key}: {exc.strerror}") from exc

    async def list_objects(self) -> AsyncIterator[list[StoredItem]]:
        async for page in self._scan():
            if objects := [item for item in page if item.upload_ref is None]:
                yield objects

    async def list_unfinished(self) -> AsyncIterator[list[StoredItem]]:
        async for page in self._scan():
            if temp_files := [item for item in page if item.upload_ref is not None]:
                yield temp_files

    async def _scan(self) -> AsyncIterator[list[StoredItem]]:
        """Objects and temp files, one project folder at a time."""
        top = self.root / OBJECT_KEY_PREFIX
        try:
            folders = await asyncio.to_thread(lambda: sorted(p for p in top.iterdir() if p.is_dir()))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"listing {top}: {exc.strerror}") from exc
        for folder in folders:
            try:
                yield await asyncio.to_thread(self._scan_folder, folder)
            except OSError as exc:
                raise StorageError(f"listing {folder}: {exc.strerror}") from exc

    def _scan_folder(self, folder: Path) -> list[StoredItem]:
        items = []
        for entry in os.scandir(folder):
            if not entry.is_file(follow_symlinks=False):
                continue
            key = f"{OBJECT_KEY_PREFIX}{folder.name}/{entry.name}"
            ref = None
            if temp := _TEMP_NAME_RE.match(entry.name):
                key, ref = f"{OBJECT_KEY_PREFIX}{folder.name}/{temp.group(1)}", entry.name
            if not OBJECT_KEY_RE.match(key):
                continue
            try:
                modified = dt.datetime.fromtimestamp(entry.stat().st_mtime, dt.UTC)
            except FileNotFoundError:
                continue  # went while we looked
            items.append(StoredItem(key, modified, ref))
        return items

    async def remove_unfinished(self, item: StoredItem) -> None:
        assert item.upload_ref is not None and _TEMP_NAME_RE.match(item.upload_ref)
        path = self.path_for(item.key).parent / item.upload_ref
        try:
            await _remove_if_present(path)
        except OSError as exc:
            raise StorageError(f"removing {item.upload_ref}: {exc.strerror}") from exc

    async def remove_all_for(self, key: str) -> None:
        final_path = self.path_for(key)
        try:
            temp_files = await asyncio.to_thread(
                lambda: list(final_path.parent.glob(_temp_name(final_path.name, "*"))))
            for path in temp_files:
                await _remove_if_present(path)
        except OSError as exc:
            raise StorageError(f"removing temp files of {key}: {exc.strerror}") from exc
        await self.delete(key)

    async def check(self) -> None:
        try:
            await asyncio.to_thread(_make_private_dirs, self.root)
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


def _temp_name(object_name: str, random: str | None = None) -> str:
    return f".{object_name}.{random or secrets.token_hex(16)}.tmp"


def _make_private_dirs(path: Path) -> None:
    """Like makedirs, but every folder it creates is 0700 (makedirs gives the mode
    to the last one only)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, DIR_MODE)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
