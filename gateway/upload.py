"""The upload pipeline: request body -> byte cap -> part buffers -> hashing + storage.

Memory per upload is bounded by the part size: one part being filled, one
waiting in the queue and `part_concurrency` being written, whatever the file
size. Reading the next chunk waits for the queue, which waits for storage:
that is the backpressure. Any error or cancellation aborts the object upload.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass

from gateway.errors import ChecksumMismatch, GatewayError, PayloadTooLarge, UploadTimeout
from gateway.hashing import Digests, MultiHasher
from gateway.settings import MiB, S3_MAX_PART_SIZE
from gateway.storage import ObjectStore, ObjectUpload

S3_MAX_PARTS = 10_000
# Without any bound on the size, part sizes double every this many parts, so
# 10,000 parts reach S3's 5 TiB object limit from a 5 MiB start.
_GROWTH_INTERVAL = 900


@dataclass(frozen=True)
class PartSizer:
    """Size of each part: fixed when the total is bounded, growing otherwise."""

    base: int
    growing: bool = False

    @classmethod
    def for_upload(cls, declared_length: int | None, max_size: int, part_size: int) -> PartSizer:
        """Pick part sizes so the upload never needs more than 10,000 parts.

        `max_size` 0 means unlimited; with no Content-Length either, parts grow.
        """
        if declared_length is not None:
            bound = declared_length
        elif max_size:
            bound = max_size
        else:
            return cls(part_size, growing=True)
        needed = math.ceil(bound / S3_MAX_PARTS)
        needed = math.ceil(needed / MiB) * MiB  # round up to whole MiB
        return cls(min(max(part_size, needed), S3_MAX_PART_SIZE))

    def size(self, number: int) -> int:
        if not self.growing:
            return self.base
        return min(self.base << ((number - 1) // _GROWTH_INTERVAL), S3_MAX_PART_SIZE)

    def capacity(self) -> int:
        return sum(self.size(n) for n in range(1, S3_MAX_PARTS + 1))


@dataclass(frozen=True)
class ExpectedDigests:
    """Checksums the client announced (`X-Checksum-SHA256`, `Content-MD5`)."""

    sha256: str | None = None
    md5_base64: str | None = None

    def verify(self, digests: Digests) -> None:
        if self.sha256 is not None and self.sha256.lower() != digests.sha256:
            raise ChecksumMismatch("X-Checksum-SHA256")
        if self.md5_base64 is not None and self.md5_base64 != digests.md5_base64:
            raise ChecksumMismatch("Content-MD5")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    parts: int
    digests: Digests


async def upload_stream(
    store: ObjectStore,
    key: str,
    body: AsyncIterable[bytes],
    *,
    sizer: PartSizer,
    max_size: int,
    expected: ExpectedDigests | None = None,
    timeout: float | None = None,
    on_clean_failure: Callable[[], Awaitable[None]] | None = None,
) -> StoredObject:
    """Stream `body` into a new object at `key`; nothing remains unless this returns.

    When it fails and the store confirms nothing remains, `on_clean_failure` is
    awaited (shielded from cancellation) before the error propagates.
    """
    hasher = MultiHasher()
    upload: ObjectUpload | None = None
    try:
        async with asyncio.timeout(timeout):
            upload = await store.begin_upload(key)
            async with upload:
                size, parts = await _pump(body, upload, hasher, sizer, max_size,
                                          store.part_concurrency)
                digests = hasher.digests()
                if expected is not None:
                    expected.verify(digests)
                await upload.complete()
    except BaseException as exc:
        # A begin that failed may still have made something (S3's answer lost on
        # the way); a cancelled one is undone by the store.
        clean = (not upload.left_behind if upload is not None
                 else isinstance(exc, asyncio.CancelledError))
        if clean and on_clean_failure is not None:
            await asyncio.shield(on_clean_failure())
        if isinstance(exc, TimeoutError):
            raise UploadTimeout("the upload took longer than the server allows") from None
        raise
    return StoredObject(key=key, size=size, parts=parts, digests=digests)


async def _pump(body: AsyncIterable[bytes], upload: ObjectUpload, hasher: MultiHasher,
                sizer: PartSizer, max_size: int, concurrency: int) -> tuple[int, int]:
    """Cut the body into parts; hash them in order and write them in parallel."""
    # One part waits here while `concurrency` parts are being written.
    queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=1)

    async def write_parts() -> None:
        while (item := await queue.get()) is not None:
            await upload.write_part(*item)

    try:
        async with asyncio.TaskGroup() as tasks:
            writers = [tasks.create_task(write_parts()) for _ in range(concurrency)]
            hashing: asyncio.Task[None] | None = None
            buffer = bytearray()
            number, total = 1, 0

            async def emit(part: bytes) -> None:
                nonlocal hashing, number
                # Hash parts strictly in order, overlapping with reading the next.
                if hashing is not None:
                    await hashing
                hashing = tasks.create_task(hasher.update(part))
                await queue.put((number, part))
                number += 1

            async for chunk in body:
                total += len(chunk)
                if total > max_size:
                    raise PayloadTooLarge(f"file is larger than the allowed {max_size} bytes")
                buffer += chunk
                while len(buffer) >= sizer.size(number):
                    await emit(_take(buffer, sizer.size(number)))
            if buffer or number == 1:
                # The last part may be short; an empty file is one empty part.
                await emit(_take(buffer, len(buffer)))
            if hashing is not None:
                await hashing
            for _ in writers:
                await queue.put(None)
    except BaseExceptionGroup as group:
        raise _most_relevant(group) from None
    return total, number - 1


def _take(buffer: bytearray, size: int) -> bytes:
    with memoryview(buffer) as view:
        part = bytes(view[:size])
    del buffer[:size]
    return part


def _most_relevant(group: BaseExceptionGroup) -> BaseException:
    """The error to report: ours first, then anything else, never a bare cancel."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for exc in leaves:
        if isinstance(exc, GatewayError):
            return exc
    return leaves[0]
