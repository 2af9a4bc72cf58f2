"""Rendering a page: the template, plus who is looking (for the header and forms)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gateway.web.visitor import current_session


async def render(request: web.Request, template: str, context: dict[str, Any], *,
                 status: int = 200) -> web.Response:
    session = await current_session(request)
    page = {"viewer": session, "csrf_token": session.csrf_token if session else "",
            "current_path": request.rel_url.path_qs, **context}
    return aiohttp_jinja2.render_template(template, request, page, status=status)
