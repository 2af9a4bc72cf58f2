"""Typed keys for what the web pages share (kept apart from gateway/keys.py)."""

from __future__ import annotations

from aiohttp import web

from gateway.web.history import PackageHistory
from gateway.web.queries import WebRepository
from gateway.web.sessions import Session, SessionStore

WEB_QUERIES = web.AppKey("web_queries", WebRepository)
SESSIONS = web.AppKey("web_sessions", SessionStore)
HISTORY = web.AppKey("web_history", PackageHistory)
# The signed-in session of a request, once looked up (None: signed out).
REQUEST_SESSION = web.RequestKey("web_session", Session | None)  # type: ignore[arg-type]
