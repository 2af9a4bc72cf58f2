"""The upload pipeline: request body -> byte cap -> part buffers -> hashing + storage.

Each part's buffer is reserved from the process-wide `ByteBudget` before it is
filled and returned once the part is hashed and written: one part being filled,
one waiting in the queue and `part_concurrency` being written per upload, and
never more than the budget across all uploads. Waiting for a reservation, for
the queue or for storage stops reading the body: that is the backpressure. A
body that sends nothing for `idle_timeout` seconds is cut off. Any error or
cancellation aborts the object upload.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from gateway.buffers import BudgetLease, ByteBudget
from gateway.errors import ChecksumMismatch, GatewayError, PayloadTooLarge, UploadTimeout
from gateway.hashing import Digests, MultiHasher
from gateway.metrics import PARTS_IN_FLIGHT, track
from gateway.settings import MiB, S3_MAX_PART_SIZE, TiB
from gateway.storage import ObjectStore, ObjectUpload, PartBuffer

S3_MAX_PARTS = 10_000
S3_MAX_OBJECT_SIZE = 5 * TiB
# A part's buffer is reserved from the shared budget once this much of it (or the
# rest of the body) has arrived: clients that stall early hold none of it.
RESERVE_WHEN_PENDING = 64 * 1024


@dataclass(frozen=True)
class PartSizer:
    """Size of each part: fixed when the length is known, else starting small and
    doubling every `growth_interval` parts, just fast enough to reach the bound."""

    base: int
    growth_interval: int | None = None
    # The declared length, when known: the last part is reserved at its exact size.
    length: int | None = None

    @property
    def growing(self) -> bool:
        return self.growth_interval is not None

    @classmethod
    def for_upload(cls, declared_length: int | None, max_size: int, part_size: int) -> PartSizer:
        """Pick part sizes so the upload never needs more than 10,000 parts.

        With a Content-Length, one fixed size (the smallest that fits). Without
        one, parts start at `part_size`, so an upload does not reserve a huge
        buffer up front, and grow so `max_size` (0: unlimited, S3's 5 TiB) fits.
        """
        if declared_length is not None:
            needed = math.ceil(declared_length / S3_MAX_PARTS)
            needed = math.ceil(needed / MiB) * MiB  # round up to whole MiB
            return cls(min(max(part_size, needed), S3_MAX_PART_SIZE), length=declared_length)
        bound = max_size or S3_MAX_OBJECT_SIZE
        if part_size * S3_MAX_PARTS >= bound:
            return cls(part_size)
        return cls(part_size, _slowest_growth(part_size, bound))

    def size(self, number: int) -> int:
        if self.growth_interval is None:
            return self.base
        return min(self.base << ((number - 1) // self.growth_interval), S3_MAX_PART_SIZE)

    def capacity(self) -> int:
        if self.growth_interval is None:
            return self.base * S3_MAX_PARTS
        return _growing_capacity(self.base, self.growth_interval)


def _growing_capacity(base: int, interval: int) -> int:
    """Bytes that 10,000 parts hold, starting at `base` and doubling every `interval`."""
    total, number, size = 0, 0, base
    while number < S3_MAX_PARTS:
        if size >= S3_MAX_PART_SIZE:
            return total + (S3_MAX_PARTS - number) * S3_MAX_PART_SIZE
        count = min(interval, S3_MAX_PARTS - number)
        total += count * size
        number += count
        size <<= 1
    return total


def _slowest_growth(base: int, bound: int) -> int:
    """The longest doubling interval whose 10,000 parts still hold `bound` bytes
    (capacity only shrinks as the interval grows, so bisect)."""
    low, high = 1, S3_MAX_PARTS  # capacity(low) >= bound > capacity(high)
    while high - low > 1:
        middle = (low + high) // 2
        if _growing_capacity(base, middle) >= bound:
            low = middle
        else:
            high = middle
    return low


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
    budget: ByteBudget | None = None,
    idle_timeout: float | None = None,
) -> StoredObject:
    """Stream `body` into a new object at `key`; nothing remains unless this returns.

    Part buffers come from `budget` (the app's, shared by all uploads; without
    one, this upload's own, unbounded). A body that sends nothing for
    `idle_timeout` seconds fails the upload with 408. When it fails and the store
    confirms nothing remains, `on_clean_failure` is awaited (shielded from
    cancellation) before the error propagates.
    """
    hasher = MultiHasher()
    reader = _BodyReader(body, max_size, idle_timeout)
    upload: ObjectUpload | None = None
    first: bytearray | None = None  # part 1, read before knowing whether more follows
    beginning = False  # set once the store was asked to start the upload
    try:
        async with asyncio.timeout(timeout):
            with (budget or ByteBudget(S3_MAX_OBJECT_SIZE)).lease() as lease:
                # An empty file is one empty part.
                first_size = 0 if await reader.at_end() else _part_size(sizer, 1, 0)
                await _reserve(reader, lease, first_size)
                first = await _read_part(reader, first_size)
                if await reader.at_end():
                    # The whole body fits in one part: one request to the store,
                    # checked against the client's digests before anything is written.
                    await hasher.update(first)
                    digests = hasher.digests()
                    if expected is not None:
                        expected.verify(digests)
                    beginning = True
                    upload = await store.begin_whole(key, digests.md5_base64)
                    async with upload:
                        await upload.write_part(1, first)
                        first = None
                        await upload.complete()
                    parts = 1
                else:
                    beginning = True
                    upload = await store.begin_upload(key)
                    async with upload:
                        # Handed over, so only the pump holds part 1 from here.
                        handed, first = [first], None
                        parts = await _pump(reader, upload, hasher, sizer, lease,
                                            store.part_concurrency, handed, first_size)
                        digests = hasher.digests()
                        if expected is not None:
                            expected.verify(digests)
                        await upload.complete()
    except BaseException as exc:
        # A begin that failed may still have made something (S3's answer lost on
        # the way); a cancelled one is undone by the store. Before it, nothing was sent.
        if upload is not None:
            clean = not upload.left_behind
        else:
            clean = (not beginning or isinstance(exc, asyncio.CancelledError)
                     or not store.failed_begin_may_leave_something)
        if clean and on_clean_failure is not None:
            await asyncio.shield(on_clean_failure())
        if isinstance(exc, TimeoutError):
            raise UploadTimeout("the upload took longer than the server allows") from None
        raise
    finally:
        reader.drop_pending()
        first = None  # a failed upload's traceback must not keep the part alive
    return StoredObject(key=key, size=reader.total, parts=parts, digests=digests)


class _BodyReader:
    """The body as chunks, with the size cap and the idle timeout; a chunk that
    straddles parts is handed out piece by piece, without copying."""

    def __init__(self, body: AsyncIterable[bytes], max_size: int, idle_timeout: float | None) -> None:
        self._chunks: AsyncIterator[bytes] = aiter(body)
        self._max_size = max_size
        self._idle_timeout = idle_timeout
        self._pending: deque[memoryview] = deque()  # received, not yet copied
        self._pending_bytes = 0
        self._eof = False
        self.total = 0

    def drop_pending(self) -> None:
        """Let go of the chunks not yet copied: a failed upload's traceback may
        keep this reader alive for a while."""
        self._pending.clear()
        self._pending_bytes = 0

    async def at_end(self) -> bool:
        """Whether the body is over; reads its next chunk if none is pending."""
        while not self._pending and not self._eof:
            await self._fetch()
        return not self._pending

    async def gather(self, count: int) -> None:
        """Until `count` bytes are pending or the body is over. A part's buffer is
        reserved only once its first bytes are here, so a client that stalls
        early holds nothing of the shared budget (aiohttp's own per-connection
        buffer, outside the budget, holds about as much)."""
        while self._pending_bytes < count and not self._eof:
            await self._fetch()

    def copy_into(self, buffer: bytearray, start: int) -> int:
        """Copy pending bytes into `buffer[start:]`; `at_end()` first fetches them.

        Never awaits, so no suspended frame but the caller's holds the buffer."""
        copied = 0
        while self._pending and start < len(buffer):
            head = self._pending[0]
            count = min(len(buffer) - start, len(head))
            buffer[start:start + count] = head[:count]
            if count == len(head):
                self._pending.popleft()
            else:
                self._pending[0] = head[count:]
            start += count
            copied += count
        self._pending_bytes -= copied
        return copied

    async def _fetch(self) -> None:
        chunk = await self._next_chunk()
        if chunk is None:
            self._eof = True
        elif chunk:
            self._pending.append(memoryview(chunk))
            self._pending_bytes += len(chunk)

    async def _next_chunk(self) -> bytes | None:
        try:
            async with asyncio.timeout(self._idle_timeout):
                chunk = await anext(self._chunks, None)
        except TimeoutError:
            raise UploadTimeout(
                f"no data received for {self._idle_timeout:g} seconds") from None
        if chunk is not None:
            self.total += len(chunk)
            if self.total > self._max_size:
                raise PayloadTooLarge(f"file is larger than the allowed {self._max_size} bytes")
        return chunk


class _Part:
    """One part's bytes; its reservation is returned once it is hashed and written."""

    def __init__(self, number: int, data: bytearray, reserved: int, lease: BudgetLease,
                 in_flight: set[_Part]) -> None:
        self.number = number
        self.length = len(data)
        self.reserved = reserved
        self.data: bytearray | None = data
        self._lease = lease
        self._users = 2  # the hasher and a writer
        self._in_flight = in_flight
        in_flight.add(self)

    def done(self) -> None:
        self._users -= 1
        if self._users == 0:
            self.data = None  # dropped before the bytes go back to the budget
            self._in_flight.discard(self)
            self._lease.release(self.reserved)


async def _reserve(reader: _BodyReader, lease: BudgetLease, size: int) -> None:
    """Reserve the next part's buffer, once its first bytes are here."""
    await reader.gather(min(size, RESERVE_WHEN_PENDING))
    await lease.acquire(size)


async def _read_part(reader: _BodyReader, size: int) -> PartBuffer:
    """The next part of the body: up to `size` bytes, fewer only at its end.

    The buffer itself is the part: hashed and handed to storage as it is, never
    copied again.
    """
    part: PartBuffer | None = PartBuffer(size)  # filled in place: never more than reserved
    try:
        filled = 0
        while filled < size and not await reader.at_end():
            filled += reader.copy_into(part, filled)
        if filled < size:
            del part[filled:]  # the body ended inside this part: its last one
        return part
    finally:
        # Freed now even when failing: a traceback keeps this frame, and its
        # locals, for as long as the error lives (in a reference cycle: until gc).
        part = None


def _part_size(sizer: PartSizer, number: int, offset: int) -> int:
    """The buffer to reserve for part `number`, starting at byte `offset`."""
    size = sizer.size(number)
    if sizer.length is not None and sizer.length > offset:
        size = min(size, sizer.length - offset)  # the last part is exact
    return size


async def _pump(reader: _BodyReader, upload: ObjectUpload, hasher: MultiHasher,
                sizer: PartSizer, lease: BudgetLease, concurrency: int,
                first: list[bytearray], first_reserved: int) -> int:
    """Cut the body into parts; hash them in order and write them in parallel.

    `first` holds part 1, already read (its `first_reserved` bytes held by
    `lease`); it is taken out, so the caller keeps no reference to it.
    Returns the number of parts. Reservations still held when this fails are
    returned by the caller's lease.
    """
    # One part waits here while `concurrency` parts are being written.
    queue: asyncio.Queue[_Part | None] = asyncio.Queue(maxsize=1)
    # Parts not yet hashed and written; on failure their bytes are dropped at
    # once, not whenever the error's tracebacks are collected.
    in_flight: set[_Part] = set()

    async def write_parts() -> None:
        while (part := await queue.get()) is not None:
            try:
                assert part.data is not None
                with track(PARTS_IN_FLIGHT):
                    await upload.write_part(part.number, part.data)
            finally:
                part.done()

    async def hash_part(part: _Part) -> None:
        try:
            assert part.data is not None
            await hasher.update(part.data)
        finally:
            part.done()

    try:
        async with asyncio.TaskGroup() as tasks:
            writers = [tasks.create_task(write_parts()) for _ in range(concurrency)]
            hashing: asyncio.Task[None] | None = None
            part: _Part | None = _Part(1, first.pop(), first_reserved, lease, in_flight)
            number, offset = 1, 0
            while True:
                if part is None:
                    # Only a body with more to send reserves a buffer.
                    if await reader.at_end():
                        break
                    size = _part_size(sizer, number, offset)
                    await _reserve(reader, lease, size)  # waits while the budget is spent
                    part = _Part(number, await _read_part(reader, size), size, lease, in_flight)
                # Hash parts strictly in order, overlapping with reading the next.
                if hashing is not None:
                    await hashing
                hashing = tasks.create_task(hash_part(part))
                await queue.put(part)
                number, offset = number + 1, offset + part.length
                part = None
            if hashing is not None:
                await hashing
            for _ in writers:
                await queue.put(None)
    except BaseExceptionGroup as group:
        error = _most_relevant(group)
    else:
        return number - 1
    finally:
        for unfinished in in_flight:
            unfinished.data = None
        in_flight.clear()
    # Raised outside the handler: inside, the group would become the error's
    # context, and the group holds the error: a cycle only gc would free.
    try:
        raise error
    finally:
        del error


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
