"""A download's storage side is read ahead of the client, a bounded distance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.storage.read_ahead import read_ahead


class Source:
    """Chunks `0..count-1` as bytes; records how far it was read and whether it
    was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.produced = 0
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            for number in range(self.count):
                if number == self.fail_at:
                    raise OSError("storage went away")
                self.produced += 1
                yield str(number).encode()
                await asyncio.sleep(0)
        finally:
            self.closed = True


async def test_chunks_arrive_in_order_and_complete() -> None:
    source = Source(50)
    async with read_ahead(source.chunks()) as chunks:
        received = [chunk async for chunk in chunks]
    assert received == [str(n).encode() for n in range(50)]
    assert source.closed


async def test_reading_ahead_stops_at_its_depth() -> None:
    source = Source(100)
    async with read_ahead(source.chunks(), depth=3) as chunks:
        first = await anext(chunks)
        for _ in range(20):
            await asyncio.sleep(0)
        # One taken, three queued, one more read and waiting for room.
        assert first == b"0"
        assert source.produced == 5
    assert source.closed


async def test_the_sources_error_reaches_the_consumer_after_what_came_before() -> None:
    source = Source(10, fail_at=4)
    received = []
    with pytest.raises(OSError, match="storage went away"):
        async with read_ahead(source.chunks()) as chunks:
            async for chunk in chunks:
                received.append(chunk)
    assert received == [b"0", b"1", b"2", b"3"]


async def test_leaving_early_stops_the_reader_before_the_source_is_closed() -> None:
    source = Source(1000)
    async with read_ahead(source.chunks(), depth=2) as chunks:
        await anext(chunks)
    assert source.closed
    produced = source.produced
    await asyncio.sleep(0.01)
    assert source.produced == produced
    assert not [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
