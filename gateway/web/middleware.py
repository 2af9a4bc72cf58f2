"""Every page: errors rendered as HTML, and the security headers."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.errors import GatewayError, NotFound
from gateway.web.render import render

ROUTE_PREFIX = "web."
SECURITY_HEADERS = {
    # No inline script or style anywhere: only our own static files run.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Page not found",
           405: "Method not allowed"}


def is_page(request: web.Request) -> bool:
    return (request.match_info.route.name or "").startswith(ROUTE_PREFIX)


@web.middleware
async def page_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not is_page(request):
        return await handler(request)
    try:
        response = await handler(request)
    except GatewayError as exc:
        if exc.status >= 500:
            raise  # logged and answered by the error middleware
        response = await error_page(request, exc)
    response.headers.update(SECURITY_HEADERS)
    if not isinstance(response, web.FileResponse):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


async def error_page(request: web.Request, exc: GatewayError) -> web.Response:
    detail = "" if isinstance(exc, NotFound) else (exc.detail or "")
    return await render(request, "error.html", {
        "status": exc.status, "title": _TITLES.get(exc.status, exc.title), "detail": detail,
    }, status=exc.status)
