"""The object-store interface the upload pipeline and downloads are written against."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime as dt
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, TypeVar

from gateway.errors import StorageError
from gateway.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")

# GitLab's `file_store` values in package-file records.
FILE_STORE_LOCAL = 1
FILE_STORE_REMOTE = 2


class PartBuffer(bytearray):
    """One part's bytes as the upload pipeline fills them and hands them to a store,
    which sends or writes this very buffer: a type of its own so a store can tell
    its HTTP client how to send it whole, without copying it again."""


def new_object_key(project_id: int) -> str:
    """Keys never contain user text, so traversal in storage cannot happen."""
    return f"projects/{project_id}/{secrets.token_hex(16)}"


# What `new_object_key` makes: the garbage collector never touches anything else.
OBJECT_KEY_RE = re.compile(r"\Aprojects/[0-9]+/[0-9a-f]{32}\Z")
# Where every object key starts.
OBJECT_KEY_PREFIX = "projects/"


@dataclass(frozen=True)
class StoredItem:
    """Something in the store that the garbage collector may remove: a complete
    object, or an unfinished upload (S3 multipart upload, temporary file)."""

    key: str  # the object key it belongs to
    modified: dt.datetime  # when it was last written (or the upload started), UTC
    upload_ref: str | None = None  # the upload id or temp file name; None: an object


async def settle(coro: Awaitable[T], undo: Callable[[T], Awaitable[None]]) -> T:
    """Await `coro`; if we are cancelled meanwhile, let it finish anyway and undo
    what it made, so a cancelled request leaves nothing half-created in storage."""
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await undo(await task)
        raise


async def _nothing_to_undo(_: object) -> None:
    pass


class ObjectUpload(abc.ABC):
    """One object being written part by part.

    Used as an async context manager: leaving it with any exception, cancellation
    included, before `complete()` succeeded aborts the upload and leaves nothing,
    even when the store had already made the object visible.
    """

    completed = False
    # Set when an abort failed to remove what the upload had stored: the
    # upload's intent must then stay, for the garbage collector to retry.
    left_behind = False
    _finishing = False

    @abc.abstractmethod
    async def write_part(self, number: int, data: bytes | bytearray) -> None:
        """Store part `number` (1-based). Parts may arrive out of order."""

    @abc.abstractmethod
    async def _complete(self) -> None: ...

    @abc.abstractmethod
    async def _abort(self) -> None:
        """Drop what is in progress (a multipart upload, a temporary file)."""

    @abc.abstractmethod
    async def _discard(self) -> None:
        """Remove the finished object, if completing got as far as making it."""

    async def complete(self) -> None:
        self._finishing = True
        # Finished even if cancelled, so abort() sees the store's final state and
        # removes the object if it came to exist.
        await settle(self._complete(), _nothing_to_undo)
        self.completed = True

    async def abort(self) -> None:
        try:
            await self._abort()
            if self._finishing:
                await self._discard()
        except Exception:
            # Never mask the error that caused the abort; the log keeps the key.
            self.left_behind = True
            log.exception("abort_failed", upload=repr(self))

    async def __aenter__(self) -> ObjectUpload:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if exc_type is not None and not self.completed:
            # Shielded: a cancelled request must still clean up after itself.
            await asyncio.shield(self.abort())


class WholeObjectUpload(ObjectUpload):
    """An upload of exactly one part, held until it completes and then written
    in one go (one request, one worker-thread call)."""

    _data: bytes | bytearray | None = None

    async def write_part(self, number: int, data: bytes | bytearray) -> None:
        if number != 1 or self._data is not None:
            raise StorageError(f"{self!r} takes exactly one part")
        self._data = data

    @abc.abstractmethod
    async def _write(self, data: bytes | bytearray) -> None:
        """Store the object whole; raise StorageError if that fails."""

    async def _complete(self) -> None:
        data, self._data = self._data, None
        if data is None:
            raise StorageError(f"{self!r} completed without its part")
        await self._write(data)

    async def _abort(self) -> None:
        self._data = None  # nothing was stored before completing


class ObjectStore(abc.ABC):
    name: str
    file_store: int
    # How many parts of one upload may be written at once.
    part_concurrency: int = 1
    # Whether a begin that raised may still have made something (S3: the answer to
    # CreateMultipartUpload lost on the way). A store that undoes its own failed
    # begin says False, and the upload's intent goes at once, not at the next gc.
    failed_begin_may_leave_something: bool = True

    @abc.abstractmethod
    async def begin_upload(self, key: str) -> ObjectUpload: ...

    async def begin_whole(self, key: str, md5_base64: str) -> ObjectUpload:
        """An upload of exactly one part, whose MD5 (base64) is known up front;
        a store may write it in one request."""
        return await self.begin_upload(key)

    @abc.abstractmethod
    def open(self, key: str, offset: int, length: int) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Stream `length` bytes from `offset`; errors opening are raised on enter."""

    async def open_local(self, key: str) -> BinaryIO | None:
        """The object as an open local file, for the kernel to send (sendfile);
        None when the store is not local."""
        return None

    async def presigned_download(self, key: str, expires_in: int,
                                 content_disposition: str) -> str | None:
        """A URL clients can GET the object from for `expires_in` seconds, answered
        with `content_disposition`; None when the store has no such URLs."""
        return None

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove an object; a missing object is not an error."""

    @abc.abstractmethod
    async def check(self) -> None:
        """Raise StorageError when the store cannot be used."""

    @abc.abstractmethod
    def list_objects(self) -> AsyncIterator[list[StoredItem]]:
        """Complete objects under the gateway's keys, a page at a time."""

    @abc.abstractmethod
    def list_unfinished(self) -> AsyncIterator[list[StoredItem]]:
        """Unfinished uploads under the gateway's keys, a page at a time."""

    @abc.abstractmethod
    async def remove_unfinished(self, item: StoredItem) -> None:
        """Abort one unfinished upload; one already gone is not an error."""

    @abc.abstractmethod
    async def remove_all_for(self, key: str) -> None:
        """Abort every unfinished upload of `key`, then delete its object."""

    async def delete_quietly(self, key: str) -> bool:
        """Best-effort removal after a failed request; shielded from cancellation.
        Returns whether the object is gone."""
        try:
            await asyncio.shield(self.delete(key))
        except Exception:
            log.exception("object_delete_failed", key=key)
            return False
        return True
