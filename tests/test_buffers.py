"""The upload buffer budget: waits, first come first served, nothing lost on
error or cancellation, and one oversized reservation can always proceed."""

from __future__ import annotations

import asyncio

import pytest

from gateway.buffers import ByteBudget


async def settle() -> None:
    """Let every ready task run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


def reserve(budget: ByteBudget, size: int) -> asyncio.Task[None]:
    return asyncio.ensure_future(budget.acquire(size))


async def test_reservations_that_fit_are_granted_at_once() -> None:
    budget = ByteBudget(100)
    await budget.acquire(60)
    await budget.acquire(40)
    assert budget.in_use == 100
    budget.release(100)
    assert budget.in_use == 0


async def test_a_reservation_that_does_not_fit_waits_for_a_release() -> None:
    budget = ByteBudget(100)
    await budget.acquire(70)
    waiting = reserve(budget, 50)
    await settle()
    assert not waiting.done() and budget.in_use == 70 and budget.waiting == 1

    budget.release(10)  # 60 + 50 > 100: still not enough
    await settle()
    assert not waiting.done()

    budget.release(20)
    await waiting
    assert budget.in_use == 90 and budget.waiting == 0


async def test_waiters_are_served_in_arrival_order_even_when_a_later_one_fits() -> None:
    budget = ByteBudget(100)
    await budget.acquire(90)
    granted: list[str] = []

    async def take(name: str, size: int) -> None:
        await budget.acquire(size)
        granted.append(name)

    big = asyncio.ensure_future(take("big", 80))
    await settle()
    small = asyncio.ensure_future(take("small", 5))  # would fit now, but arrived later
    await settle()
    assert granted == [] and budget.in_use == 90

    budget.release(90)
    await asyncio.gather(big, small)
    assert granted == ["big", "small"] and budget.in_use == 85


async def test_a_reservation_larger_than_the_budget_runs_alone() -> None:
    """One upload whose part is larger than the whole budget still makes progress,
    once nothing else is held; nobody overtakes it meanwhile."""
    budget = ByteBudget(100)
    alone = reserve(budget, 250)
    await alone
    assert budget.in_use == 250
    behind = reserve(budget, 1)
    await settle()
    assert not behind.done()
    budget.release(250)
    await behind

    await budget.acquire(10)
    oversized = reserve(budget, 250)
    await settle()
    assert not oversized.done()  # waits until everything else is returned
    budget.release(11)
    await oversized
    assert budget.in_use == 250


async def test_a_cancelled_waiter_leaves_the_queue_and_the_next_one_proceeds() -> None:
    budget = ByteBudget(100)
    await budget.acquire(60)
    first = reserve(budget, 80)  # blocks the head of the queue
    await settle()
    second = reserve(budget, 30)
    await settle()
    assert not second.done()

    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await second  # 60 + 30 fits once the head is gone
    assert budget.in_use == 90 and budget.waiting == 0


async def test_a_waiter_cancelled_just_after_its_grant_gives_the_bytes_back() -> None:
    budget = ByteBudget(100)
    await budget.acquire(100)
    waiting = reserve(budget, 50)
    await settle()
    budget.release(100)  # grants the waiter; it has not resumed yet
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert budget.in_use == 0


async def test_a_lease_returns_what_it_holds_on_error() -> None:
    budget = ByteBudget(100)
    with pytest.raises(RuntimeError):
        with budget.lease() as lease:
            await lease.acquire(30)
            await lease.acquire(20)
            lease.release(20)
            assert lease.held == 30 and budget.in_use == 30
            raise RuntimeError("upload failed")
    assert budget.in_use == 0


async def test_a_lease_returns_what_it_holds_when_cancelled_while_waiting() -> None:
    budget = ByteBudget(100)
    await budget.acquire(50)

    async def upload() -> None:
        with budget.lease() as lease:
            await lease.acquire(40)
            await lease.acquire(40)  # does not fit: waits

    task = asyncio.ensure_future(upload())
    await settle()
    assert budget.in_use == 90 and budget.waiting == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert budget.in_use == 50 and budget.waiting == 0


async def test_releasing_more_than_was_reserved_is_a_bug() -> None:
    budget = ByteBudget(100)
    await budget.acquire(10)
    with pytest.raises(ValueError):
        budget.release(11)
    with budget.lease() as lease:
        await lease.acquire(5)
        with pytest.raises(ValueError):
            lease.release(6)
    assert budget.in_use == 10
    with pytest.raises(ValueError):
        ByteBudget(0)


async def test_an_empty_reservation_never_waits() -> None:
    budget = ByteBudget(100)
    await budget.acquire(100)
    waiting = reserve(budget, 10)
    await settle()
    await budget.acquire(0)  # an empty file's part, behind a waiter: still at once
    assert budget.in_use == 100 and not waiting.done()
    budget.release(100)
    await waiting
