"""Probes: `/-/health` and `/-/liveness` (the process answers), `/-/readiness`
(the database and the object store answer, each within a bound)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.db.base import Repository
from gateway.errors import GatewayError
from gateway.keys import DB_POOL, OBJECT_STORE
from gateway.logs import get_logger

log = get_logger(__name__)

CHECK_TIMEOUT = 2.0
# Checks given up on, kept referenced until they end on their own.
_abandoned: set[asyncio.Task[None]] = set()


async def liveness(request: web.Request) -> web.Response:
    """Touches nothing: a stalled database or store must not make this hang."""
    return web.json_response({"status": "ok"})


async def readiness(request: web.Request) -> web.Response:
    pool, store = request.app[DB_POOL], request.app[OBJECT_STORE]
    database, storage = await asyncio.gather(
        _check("database", lambda: Repository(pool).fetchval("ping")),
        _check("storage", store.check),
    )
    checks = {"database": database, "storage": storage}
    ready = all(value == "ok" for value in checks.values())
    return web.json_response({"status": "ok" if ready else "error", **checks},
                             status=200 if ready else 503)


async def _check(name: str, probe: Callable[[], Awaitable[object]]) -> str:
    """"ok", "timeout" or "unavailable"; the details go to the log only (they may
    name internal endpoints)."""
    async def run() -> None:
        await probe()

    task = asyncio.ensure_future(run())
    done, _ = await asyncio.wait({task}, timeout=CHECK_TIMEOUT)
    if not done:
        # Not awaited: a cancelled database call may wait on its connection's
        # cleanup, and the answer must not.
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_forget)
        log.warning("readiness_check_timeout", check=name, timeout=CHECK_TIMEOUT)
        return "timeout"
    exc = task.exception()
    if exc is None:
        return "ok"
    if not isinstance(exc, GatewayError):
        raise exc
    log.warning("readiness_check_failed", check=name, error=exc.message)
    return "unavailable"


def _forget(task: asyncio.Task[None]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failure after we stopped waiting is expected
