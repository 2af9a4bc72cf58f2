"""`GET /metrics`: Prometheus text format, optionally behind a bearer token."""

from __future__ import annotations

import hmac

from aiohttp import web

from gateway.errors import Unauthorized
from gateway.keys import SETTINGS
from gateway.metrics import exposition


async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(sent.strip().encode(),
                                                                  token.encode()):
            raise Unauthorized("metrics need the bearer token")
    body, content_type = exposition()
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response
