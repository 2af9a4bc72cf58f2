"""While the gateway drains: refuse new requests, count those running."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.keys import LIFECYCLE
from gateway.lifecycle import ShuttingDown


@web.middleware
async def drain_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside the error middleware: its answer must also close the connection."""
    lifecycle = request.app[LIFECYCLE]
    if lifecycle.draining:
        refusal = ShuttingDown()
        response: web.StreamResponse = web.json_response(
            refusal.body(), status=refusal.status, headers=refusal.headers())
        response.force_close()
        return response
    task = asyncio.current_task()
    assert task is not None
    with lifecycle.running(task, request.content if request.body_exists else None):
        response = await handler(request)
    if lifecycle.draining:
        response.force_close()  # this one is answered; the connection goes
    return response
