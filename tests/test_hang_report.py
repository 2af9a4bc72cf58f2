"""tests/hang_report.py names the coroutine a hung test is stuck in."""

from __future__ import annotations

import asyncio

from tests.hang_report import report


async def test_report_shows_where_each_pending_task_waits() -> None:
    async def parked_on_an_event() -> None:
        await asyncio.Event().wait()

    stuck = asyncio.create_task(parked_on_an_event(), name="stuck-task")
    await asyncio.sleep(0)
    try:
        text = report("tests/x.py::test_y")
    finally:
        stuck.cancel()
    assert "asyncio tasks still pending in tests/x.py::test_y" in text
    assert "name='stuck-task'" in text
    assert "in parked_on_an_event" in text
