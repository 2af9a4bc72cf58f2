"""Who is looking at a page: the signed-in session of a request, if any."""

from __future__ import annotations

from aiohttp import web

from gateway.auth import ANONYMOUS, Actor
from gateway.web.keys import REQUEST_SESSION, SESSIONS
from gateway.web.sessions import COOKIE_NAME, Session

# Reading through the API with the page's cookie: downloads and lists only.
_API_READ_METHODS = {"GET", "HEAD"}


async def current_session(request: web.Request) -> Session | None:
    """Looked up once per request."""
    if REQUEST_SESSION not in request:
        cookie = request.cookies.get(COOKIE_NAME)
        request[REQUEST_SESSION] = await request.app[SESSIONS].find(cookie) if cookie else None
    return request[REQUEST_SESSION]


async def visitor_actor(request: web.Request) -> Actor:
    session = await current_session(request)
    return session.actor if session is not None else ANONYMOUS


async def api_session_actor(request: web.Request) -> Actor | None:
    """The signed-in user, for an API request that sent no credential of its own:
    the page's download links work with the same rights as the page. Reads only,
    so the cookie can never be used to change anything through the API (no CSRF
    surface there; the page's own deletes carry a CSRF token)."""
    if (request.method not in _API_READ_METHODS or COOKIE_NAME not in request.cookies
            or SESSIONS not in request.app):
        return None
    session = await current_session(request)
    return session.actor if session is not None else None
