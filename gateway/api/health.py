"""`GET /-/health`: the database and the object store both answer."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import GatewayError
from gateway.keys import DB_POOL, OBJECT_STORE
from gateway.db.base import Repository


async def health(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await Repository(request.app[DB_POOL]).fetchval("ping")
        checks["database"] = "ok"
    except GatewayError as exc:
        checks["database"] = exc.message
    try:
        await request.app[OBJECT_STORE].check()
        checks["storage"] = "ok"
    except GatewayError as exc:
        checks["storage"] = exc.message
    healthy = all(value == "ok" for value in checks.values())
    return web.json_response({"status": "ok" if healthy else "error", **checks},
                             status=200 if healthy else 503)
