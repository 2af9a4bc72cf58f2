"""Requests in flight, and the drain before the process exits.

Once draining, new requests (on connections still open) get 503 and
`Connection: close` (gateway/api/drain.py), while those already running go on
to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from aiohttp import StreamReader

from gateway.background import wait_event
from gateway.errors import ServiceUnavailable


class ShuttingDown(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("the gateway is shutting down, retry on another instance or later")

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}

    def body(self) -> dict[str, str]:
        return {"message": f"{self.status} {self.title} - the gateway is shutting down"}


class Lifecycle:
    def __init__(self) -> None:
        self.draining = False
        # Each request in flight, with its body when it has one (for `stop_bodies`).
        self._in_flight: dict[asyncio.Task[object], StreamReader | None] = {}
        self._changed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def begin_drain(self) -> None:
        self.draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """Until no request is in flight; False when `timeout` passed first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._in_flight:
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if not await wait_event(self._changed, remaining):
                return not self._in_flight
        return True

    def stop_bodies(self) -> int:
        """End every request body still arriving with `ShuttingDown`: its upload
        aborts as on any bad body, and the client is answered 503 (Retry-After)
        rather than cut off. Returns how many."""
        stopped = 0
        for body in self._in_flight.values():
            # is_eof: the client sent it all (it may not be read yet); those go on.
            if body is not None and not body.is_eof() and body.exception() is None:
                body.set_exception(ShuttingDown())
                stopped += 1
        return stopped

    def cancel_in_flight(self) -> int:
        """Cancel every request still running (uploads abort on cancellation)."""
        for task in self._in_flight:
            task.cancel()
        return len(self._in_flight)

    @contextlib.contextmanager
    def running(self, task: asyncio.Task[object], body: StreamReader | None = None) -> Iterator[None]:
        self._in_flight[task] = body
        try:
            yield
        finally:
            del self._in_flight[task]
            self._changed.set()
