"""gateway/background.py: `wait_event` and the loops built on it (a cancellation
that arrives in the same loop turn as a wake-up stops the loop; on Python 3.11,
`asyncio.wait_for` dropped it, and the app's cleanup waited for ever), and
`background_task`."""

from __future__ import annotations

import asyncio

import pytest
import structlog
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from gateway.db.packages import PackageRepository
from gateway.destroyer import PackageDestroyer
from gateway.events.delivery import HookDeliverer
from gateway.events.repository import EventRepository
from gateway.keys import OBJECT_STORES
from gateway.lifecycle import Lifecycle, ShuttingDown
from gateway.background import background_task, wait_event
from tests.harness import GatewayFactory, wait_for


async def test_true_when_set_false_after_the_timeout() -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_event(event, 10) is True
    assert await wait_event(asyncio.Event(), 0.01) is False


async def test_a_cancellation_with_the_wake_up_is_kept() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_event(event, 60))
    await wait_for(lambda: bool(event._waiters))  # noqa: SLF001 - parked on the event
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_cancellation_while_waiting_is_kept() -> None:
    waiting = asyncio.create_task(wait_event(asyncio.Event(), 60))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def _stops_when_woken_and_cancelled(worker: PackageDestroyer | HookDeliverer) -> None:
    loop_task = asyncio.create_task(worker.run())
    event = worker._wake  # noqa: SLF001
    await wait_for(lambda: bool(event._waiters), timeout=20)  # noqa: SLF001 - idle between rounds
    worker.wake()
    loop_task.cancel()
    await asyncio.wait([loop_task], timeout=20)  # waits without cancelling it again
    if not loop_task.done():
        loop_task.cancel()  # a second cancellation gets through; the test fails anyway
        await asyncio.wait([loop_task])
        pytest.fail("the loop went on after its cancellation")
    assert loop_task.cancelled()


async def test_destroyer_stops_when_woken_and_cancelled(gateway_factory: GatewayFactory) -> None:
    """Cancelled as it is woken: the way app cleanup met a delete's wake-up."""
    gateway = await gateway_factory("fs")
    await _stops_when_woken_and_cancelled(
        PackageDestroyer(PackageRepository(gateway.pool), gateway.app[OBJECT_STORES]))


async def test_hook_deliverer_stops_when_woken_and_cancelled(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    await _stops_when_woken_and_cancelled(
        HookDeliverer(EventRepository(gateway.pool), gateway.pool, gateway.settings))


async def test_drain_wait_is_cancellable_as_a_request_ends() -> None:
    lifecycle = Lifecycle()
    request = asyncio.create_task(asyncio.sleep(60))
    with lifecycle.running(request):
        waiting = asyncio.create_task(lifecycle.wait_idle(60))
        await wait_for(lambda: bool(lifecycle._changed._waiters))  # noqa: SLF001
    # Leaving `running` set the event; the cancellation comes in the same turn.
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    request.cancel()


async def test_background_task_runs_for_the_body_then_is_cancelled() -> None:
    ticks: list[int] = []

    async def loop() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    async with background_task(loop(), "ticker"):
        await wait_for(lambda: len(ticks) >= 3)
    count = len(ticks)
    await asyncio.sleep(0.05)
    assert len(ticks) == count  # stopped


async def test_background_task_failure_is_logged_not_raised() -> None:
    async def loop() -> None:
        raise RuntimeError("broken")

    with structlog.testing.capture_logs() as logs:
        async with background_task(loop(), "broken-loop"):
            await asyncio.sleep(0.01)
    assert [(e["event"], e["task"], e["error"]) for e in logs] == [
        ("background_task_failed", "broken-loop", "RuntimeError('broken')")]


async def test_background_task_keeps_the_callers_cancellation() -> None:
    """Cancelled while its cleanup waits for the loop (which takes a moment to
    stop): the caller still ends cancelled."""
    stopped = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.shield(asyncio.sleep(0.2))
            stopped.set()

    async def caller() -> None:
        async with background_task(slow_to_stop(), "slow"):
            await asyncio.sleep(0)

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.05)  # the caller is in cleanup, waiting for the loop
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await stopped.wait()


async def test_stop_bodies_ends_only_bodies_still_arriving() -> None:
    """At the end of the shutdown grace: a body the client is still sending ends
    with ShuttingDown; one it sent whole (not read yet, say the upload waits for
    the budget) is left to finish."""
    loop = asyncio.get_running_loop()
    lifecycle = Lifecycle()
    arriving = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    arriving.feed_data(b"first half")
    sent_whole = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    sent_whole.feed_data(b"all of it")
    sent_whole.feed_eof()
    requests = [asyncio.create_task(asyncio.sleep(60)) for _ in range(2)]
    with lifecycle.running(requests[0], arriving), lifecycle.running(requests[1], sent_whole):
        assert lifecycle.stop_bodies() == 1
        with pytest.raises(ShuttingDown):
            await arriving.read()
        assert await sent_whole.read() == b"all of it"
    for request in requests:
        request.cancel()
