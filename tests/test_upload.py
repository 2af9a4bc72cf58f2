"""The upload pipeline: the part-size plan (never more than S3's 10,000 parts), the
buffer budget it reserves parts from, and the idle timeout."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.buffers import ByteBudget
from gateway.errors import UploadTimeout
from gateway.settings import GiB, MiB, Settings, TiB
from gateway.storage import ObjectStore, new_object_key, open_object_store
from gateway.upload import S3_MAX_PARTS, PartSizer, upload_stream


@pytest.mark.parametrize("length", [0, 1, 8 * MiB, 1 * GiB, 80 * GiB, 5 * TiB])
def test_declared_length_fits_in_10000_parts(length: int) -> None:
    sizer = PartSizer.for_upload(length, 50 * GiB, 8 * MiB)
    assert not sizer.growing
    assert sizer.base >= 8 * MiB
    assert sizer.base * S3_MAX_PARTS >= length
    assert sizer.base <= 5 * GiB


def test_small_files_keep_the_configured_part_size() -> None:
    assert PartSizer.for_upload(1 * GiB, 50 * GiB, 8 * MiB).base == 8 * MiB


def test_chunked_upload_under_a_limit_starts_small_and_grows_to_reach_it() -> None:
    sizer = PartSizer.for_upload(None, 200 * GiB, 8 * MiB)
    assert sizer.growing
    assert sizer.size(1) == 8 * MiB
    assert sizer.capacity() >= 200 * GiB
    # Grows no faster than needed: doubling one part sooner would not reach the limit.
    assert sizer.growth_interval is not None
    slower = PartSizer(8 * MiB, sizer.growth_interval + 1)
    assert slower.capacity() < 200 * GiB
    assert sizer.capacity() == sum(sizer.size(n) for n in range(1, S3_MAX_PARTS + 1))


def test_chunked_upload_whose_limit_fits_in_fixed_parts_does_not_grow() -> None:
    sizer = PartSizer.for_upload(None, 50 * GiB, 8 * MiB)
    assert not sizer.growing and sizer.base == 8 * MiB


@pytest.mark.parametrize("base", [5 * MiB, 8 * MiB, 64 * MiB])
def test_unlimited_chunked_upload_grows_parts_to_reach_5_tib(base: int) -> None:
    sizer = PartSizer.for_upload(None, 0, base)
    assert sizer.growing
    assert sizer.size(1) == base
    assert sizer.size(S3_MAX_PARTS) <= 5 * GiB
    assert sizer.capacity() >= 5 * TiB
    assert sizer.capacity() == sum(sizer.size(n) for n in range(1, S3_MAX_PARTS + 1))
    # Small parts for a long while: the first 100 MiB never need a part over `base`.
    assert all(sizer.size(n) == base for n in range(1, 100 * MiB // base + 1))


# -- the pipeline against the budget and the idle timeout, on both real stores ----

@pytest.fixture
async def store(settings_factory: Callable[..., Settings], storage: str) -> AsyncIterator[ObjectStore]:
    async with open_object_store(settings_factory(storage)) as opened:
        yield opened


def leftovers(store: ObjectStore, s3_admin: Any) -> list[str]:
    """Objects, temp files and multipart uploads still present in the store."""
    if store.name == "fs":
        return [str(p) for p in store.root.rglob("*") if p.is_file()]  # type: ignore[attr-defined]
    bucket = store._bucket  # type: ignore[attr-defined]
    objects = s3_admin.list_objects_v2(Bucket=bucket).get("Contents", [])
    uploads = s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [o["Key"] for o in objects] + [u["Key"] for u in uploads]


class WatchedBudget(ByteBudget):
    """Remembers the most it ever had out."""

    peak = 0

    async def acquire(self, size: int) -> None:
        await super().acquire(size)
        self.peak = max(self.peak, self.in_use)


class CountingBody:
    """A body of `size` random bytes in small chunks, counting what was pulled."""

    def __init__(self, size: int, chunk: int = 256 * 1024) -> None:
        self.data = os.urandom(size)
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            piece = self.data[start:start + self.chunk]
            self.pulled += len(piece)
            yield piece
            await asyncio.sleep(0)


async def test_uploads_share_the_budget_and_all_complete(store: ObjectStore, s3_admin: Any) -> None:
    """Three uploads of 12 MiB through a budget of one 5 MiB part: they take turns,
    the budget is never exceeded, each file is stored byte for byte."""
    budget = WatchedBudget(5 * MiB)
    bodies = [CountingBody(12 * MiB) for _ in range(3)]
    keys = [new_object_key(1) for _ in bodies]
    stored = await asyncio.gather(*(
        upload_stream(store, key, body, sizer=PartSizer(5 * MiB), max_size=100 * MiB, budget=budget)
        for key, body in zip(keys, bodies)))
    assert budget.peak <= 5 * MiB and budget.in_use == 0
    for key, body, result in zip(keys, bodies, stored):
        assert (result.size, result.parts) == (12 * MiB, 3)
        assert result.digests.sha256 == hashlib.sha256(body.data).hexdigest()
        async with store.open(key, 0, result.size) as chunks:
            assert b"".join([c async for c in chunks]) == body.data
        await store.delete(key)
    assert leftovers(store, s3_admin) == []


async def test_an_upload_waiting_for_the_budget_stops_reading_its_body(store: ObjectStore,
                                                                       s3_admin: Any) -> None:
    budget = ByteBudget(8 * MiB)
    await budget.acquire(8 * MiB)  # everything held by someone else
    body = CountingBody(12 * MiB)
    task = asyncio.ensure_future(upload_stream(store, new_object_key(1), body,
                                               sizer=PartSizer(5 * MiB), max_size=100 * MiB,
                                               budget=budget))
    await asyncio.sleep(0.5)
    assert not task.done()
    assert body.pulled <= body.chunk  # one chunk to see the body is not over, no more
    budget.release(8 * MiB)
    stored = await task
    assert stored.size == 12 * MiB and budget.in_use == 0
    await store.delete(stored.key)


async def test_a_known_length_reserves_only_what_the_last_part_needs(store: ObjectStore) -> None:
    budget = WatchedBudget(100 * MiB)
    body = CountingBody(1000)
    stored = await upload_stream(store, new_object_key(1), body, budget=budget, max_size=100 * MiB,
                                 sizer=PartSizer.for_upload(1000, 100 * MiB, 5 * MiB))
    assert budget.peak == 1000 and budget.in_use == 0
    await store.delete(stored.key)


async def test_a_failed_upload_returns_its_reservations_and_leaves_nothing(
        store: ObjectStore, s3_admin: Any) -> None:
    budget = ByteBudget(64 * MiB)

    async def broken() -> AsyncIterator[bytes]:
        yield os.urandom(11 * MiB)
        raise RuntimeError("body broke")

    with pytest.raises(RuntimeError, match="body broke"):
        await upload_stream(store, new_object_key(1), broken(), sizer=PartSizer(5 * MiB),
                            max_size=100 * MiB, budget=budget)
    assert budget.in_use == 0
    assert leftovers(store, s3_admin) == []


async def test_a_body_that_goes_quiet_is_cut_off_and_leaves_nothing(store: ObjectStore,
                                                                   s3_admin: Any) -> None:
    budget = ByteBudget(64 * MiB)

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MiB)  # one part written, the next one started
        await asyncio.sleep(30)
        yield b"never"

    started = time.monotonic()
    with pytest.raises(UploadTimeout, match="no data received for 0.5 seconds"):
        await upload_stream(store, new_object_key(1), stalls(), sizer=PartSizer(5 * MiB),
                            max_size=100 * MiB, budget=budget, idle_timeout=0.5)
    assert time.monotonic() - started < 10
    assert budget.in_use == 0
    assert leftovers(store, s3_admin) == []


async def test_a_slow_but_steady_body_is_not_cut_off(store: ObjectStore) -> None:
    async def trickles() -> AsyncIterator[bytes]:
        for _ in range(8):
            await asyncio.sleep(0.1)
            yield b"x" * 1000

    stored = await upload_stream(store, new_object_key(1), trickles(), sizer=PartSizer(5 * MiB),
                                 max_size=100 * MiB, idle_timeout=0.5)
    assert stored.size == 8000
    await store.delete(stored.key)
