"""The route table."""

from __future__ import annotations

from aiohttp import web

from gateway.api import generic, health
from gateway.api.http import defer_continue


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/-/health", health.health)
    app.router.add_put(generic.ROUTE, generic.put_package_file, expect_handler=defer_continue)
    app.router.add_get(generic.ROUTE, generic.get_package_file)  # HEAD too
