"""The app's background loops (destroyer, hook deliverer, garbage collector): how
they run from app start to cleanup, and how they wait, without losing a
cancellation.

Python 3.11's `asyncio.wait_for(event.wait(), t)` returns normally when the task
is cancelled in the same loop turn as the event is set: the cancellation is
dropped. A loop (`while True: work; wait_for(wake, t)`) then never sees its app's
`task.cancel()`, and the app's cleanup awaits it for ever. Python 3.12 rewrote
`wait_for` on `asyncio.timeout`, which counts cancellations; `wait_event` is the
same for 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from gateway.logs import get_logger

log = get_logger(__name__)


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """True once `event` is set, False when `timeout` seconds pass first."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


@asynccontextmanager
async def background_task(loop: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """Runs `loop` as a task for the body of the `async with`, then cancels it and
    waits for its end. A cancellation of the caller itself is not swallowed."""
    task = asyncio.create_task(loop, name=name)
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.error("background_task_failed", task=name, error=repr(task.exception()))
