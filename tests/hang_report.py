"""When a test is about to hit pytest-timeout, print every asyncio task's stack.

pytest-timeout prints the threads' stacks, which for a hung async test show only
the event loop waiting in `select`; what is stuck is a coroutine. A timer thread
prints each pending task's stack (and what it awaits) a few seconds before the
timeout, so a hang in CI says where it hangs.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from collections.abc import Iterator

import pytest

EARLY_BY = 10.0  # seconds before the timeout


def _timeout_of(item: pytest.Item) -> float:
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("timeout") or 0)


def _pending_tasks() -> list[asyncio.Task[object]]:
    for _ in range(10):  # the set may change under us: the loop's thread keeps running
        try:
            return [task for task in list(asyncio.tasks._all_tasks) if not task.done()]  # noqa: SLF001
        except RuntimeError:
            continue
    return []


def report(nodeid: str) -> str:
    out = io.StringIO()
    print(f"\n+++ asyncio tasks still pending in {nodeid} +++", file=out)
    for task in _pending_tasks():
        try:
            task.print_stack(file=out)
        except Exception as exc:  # the task moved on while we looked
            print(f"{task!r}: {exc!r}", file=out)
    return out.getvalue()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    timeout = _timeout_of(item)
    if timeout <= EARLY_BY:
        yield
        return
    timer = threading.Timer(timeout - EARLY_BY, lambda: sys.__stderr__.write(report(item.nodeid)))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
