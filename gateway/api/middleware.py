"""Request id and the canonical log line; our errors rendered as GitLab JSON."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import GatewayError
from gateway.logs import get_logger
from gateway.metrics import count_request

log = get_logger("gateway.request")

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID = web.RequestKey("request_id", str)
RESPONSE_STARTED = web.RequestKey("response_started", bool)
_REQUEST_ID_RE = re.compile(r"\A[A-Za-z0-9._:-]{1,128}\Z")
# aiohttp does not cancel a handler whose client went away (handler_cancellation
# is off): a cancelled request was stopped by this server, when the shutdown
# grace ran out. Logged as 503, not nginx's 499, which would blame the client.
STATUS_STOPPED_AT_SHUTDOWN = 503


@web.middleware
async def request_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id for every log line, and write one line per request."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    status, response = 500, None
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = STATUS_STOPPED_AT_SHUTDOWN
        structlog.contextvars.bind_contextvars(stopped_at_shutdown=True)
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else None
        duration, bytes_out = time.perf_counter() - started, _bytes_out(response)
        log.info(
            "request",
            method=request.method,
            route=route,
            path=request.rel_url.raw_path,
            status=status,
            bytes_out=bytes_out,
            duration_ms=round(duration * 1000, 1),
        )
        count_request(request.method, route, status, duration, bytes_out=bytes_out,
                      bytes_in=structlog.contextvars.get_contextvars().get("bytes_in", 0))


def _bytes_out(response: web.StreamResponse | None) -> int:
    """Body bytes of a plain response; streaming handlers bind the count they wrote."""
    if response is None:
        return 0
    return structlog.contextvars.get_contextvars().get("bytes_out", response.content_length or 0)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where errors become HTTP responses."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own answers (no route, wrong method) in GitLab's shape.
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"error": f"{exc.status} {exc.reason}"}, status=exc.status,
                                 headers=headers)
    except Exception as exc:
        if request.get(RESPONSE_STARTED):
            # A second response would land inside the first one's body; let aiohttp
            # drop the connection instead.
            log.exception("error_after_response_started")
            raise
        if not isinstance(exc, GatewayError):
            log.exception("unhandled_error")
            return web.json_response({"message": "500 Internal Server Error"}, status=500)
        structlog.contextvars.bind_contextvars(error=exc.message)
        if exc.status >= 500:
            log.error("request_failed", error=exc.message, cause=repr(exc.__cause__))
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers())


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, streamed ones too, carries the request id; and from now on
    no other answer may be sent for this request."""
    request[RESPONSE_STARTED] = True
    if REQUEST_ID in request:
        response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID]
