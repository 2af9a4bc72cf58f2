"""The process-wide budget for upload buffers: an async, fair byte semaphore.

Every part buffer is reserved here before it is filled and given back once the
part is hashed and written, so the bytes held by all uploads together stay
within the budget, whatever the number or the speed of the clients. An upload
that cannot reserve its next part waits; it stops reading its body meanwhile,
which pushes back on its client through TCP.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Gauge


class ByteBudget:
    """Grants byte reservations first come, first served.

    A reservation larger than the whole budget is granted once nothing else is
    held, so one upload can always make progress whatever its part size.
    """

    def __init__(self, capacity: int, gauge: Gauge | None = None) -> None:
        if capacity <= 0:
            raise ValueError(f"a byte budget must be positive, got {capacity}")
        self.capacity = capacity
        self._gauge = gauge  # mirrors in_use, for /metrics
        self._in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        return self._in_use

    @in_use.setter
    def in_use(self, value: int) -> None:
        if self._gauge is not None:
            self._gauge.inc(value - self._in_use)
        self._in_use = value

    @property
    def waiting(self) -> int:
        """How many reservations are queued (for metrics)."""
        return sum(1 for _, future in self._waiters if not future.done())

    def _fits(self, size: int) -> bool:
        return self.in_use == 0 or self.in_use + size <= self.capacity

    async def acquire(self, size: int) -> None:
        """Reserve `size` bytes, waiting behind earlier requests until they fit."""
        if size < 0:
            raise ValueError(f"cannot reserve {size} bytes")
        if size == 0:
            return  # holds no memory: never queues (an empty file's one part)
        # Never overtake a waiter, even when this would fit: a large part at
        # the head of the queue would otherwise wait forever behind small ones.
        if not self._waiters and self._fits(size):
            self.in_use += size
            return
        waiter = (size, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await waiter[1]
        except asyncio.CancelledError:
            if waiter[1].done() and not waiter[1].cancelled():
                # Granted just as we were cancelled: the bytes are ours to return.
                self.release(size)
            else:
                self._waiters.remove(waiter)
                self._grant_waiters()  # the next in line may fit now
            raise

    def release(self, size: int) -> None:
        if size < 0 or size > self.in_use:
            raise ValueError(f"cannot release {size} bytes of {self.in_use} in use")
        self.in_use -= size
        self._grant_waiters()

    def _grant_waiters(self) -> None:
        while self._waiters:
            size, future = self._waiters[0]
            if future.done():  # cancelled while queued
                self._waiters.popleft()
                continue
            if not self._fits(size):
                return
            self._waiters.popleft()
            self.in_use += size
            future.set_result(None)

    @contextmanager
    def lease(self) -> Iterator[BudgetLease]:
        """What one upload holds; whatever it still holds is returned on exit,
        after an error or a cancellation too."""
        lease = BudgetLease(self)
        try:
            yield lease
        finally:
            lease.release_all()


class BudgetLease:
    """The reservations of one upload, so none can leak past its end."""

    def __init__(self, budget: ByteBudget) -> None:
        self._budget = budget
        self.held = 0

    async def acquire(self, size: int) -> None:
        await self._budget.acquire(size)
        self.held += size

    def release(self, size: int) -> None:
        if size > self.held:
            raise ValueError(f"cannot release {size} bytes of {self.held} held")
        self.held -= size
        self._budget.release(size)

    def release_all(self) -> None:
        if self.held:
            self.release(self.held)
