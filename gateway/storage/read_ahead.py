"""Reading a download from storage while the previous chunks go to the client.

Without it the two sides take turns: while the gateway waits for the client to
take a chunk, nothing is read from S3, whose connection stalls as soon as the
HTTP client's small receive buffer fills. A task of its own keeps reading into a
short queue instead, so both connections stay busy; the queue's depth bounds
what one download holds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

# Chunks held per download at most, besides the one being written.
DEPTH = 4
_END = object()


@contextlib.asynccontextmanager
async def read_ahead(chunks: AsyncGenerator[bytes, None],
                     depth: int = DEPTH) -> AsyncIterator[AsyncIterator[bytes]]:
    """`chunks`, read by a task of its own up to `depth` chunks ahead of the
    consumer. On exit the task is cancelled and `chunks` closed, before the
    caller closes what they read from; the source's error reaches the consumer."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    await queue.put(chunk)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there
            await queue.put(exc)
        else:
            await queue.put(_END)

    async def consume() -> AsyncIterator[bytes]:
        while (item := await queue.get()) is not _END:
            if isinstance(item, Exception):
                raise item
            assert isinstance(item, (bytes, bytearray))
            yield item

    reader = asyncio.create_task(pump())
    try:
        yield consume()
    finally:
        reader.cancel()
        # Waited for without raising its cancellation, nor hiding ours.
        await asyncio.wait({reader})
