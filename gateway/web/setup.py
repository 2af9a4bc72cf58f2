"""Wiring the pages into the app: templates, static files, routes, middleware, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.keys import DB_POOL
from gateway.web import views
from gateway.web.format import FILTERS
from gateway.web.history import PackageHistory
from gateway.web.keys import HISTORY, SESSIONS, WEB_QUERIES
from gateway.web.middleware import ROUTE_PREFIX, page_middleware
from gateway.web.queries import WebRepository
from gateway.web.sessions import SessionStore

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/-/static"
# A project's full path, as the projects table allows it: `group/sub/project`.
# Segments never start with `-`, so `/-/` always ends the project part.
PROJECT = "{project:[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)+}"
REGISTRY = f"/{PROJECT}/-/packages"
PACKAGE = REGISTRY + "/{package_id:[0-9]{1,19}}"
PACKAGE_DELETE = PACKAGE + "/delete"
FILE_DELETE = PACKAGE + "/files/{file_id:[0-9]{1,19}}/delete"


async def web_ctx(app: web.Application) -> AsyncIterator[None]:
    queries = WebRepository(app[DB_POOL])
    app[WEB_QUERIES] = queries
    app[SESSIONS] = await SessionStore.open(queries)
    app[HISTORY] = await PackageHistory.open(queries)
    yield


def setup_web(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("gateway.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, default_helpers=False)
    env.filters.update(FILTERS)
    env.globals["static"] = lambda name: f"{STATIC_PREFIX}/{name}"
    app.middlewares.append(page_middleware)
    app.cleanup_ctx.append(web_ctx)
    add = app.router.add_route
    add("GET", "/", views.home, name=ROUTE_PREFIX + "home")
    add("GET", "/-/sign_in", views.sign_in_form, name=ROUTE_PREFIX + "sign_in")
    add("POST", "/-/sign_in", views.sign_in)
    add("POST", "/-/sign_out", views.sign_out, name=ROUTE_PREFIX + "sign_out")
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name=ROUTE_PREFIX + "static")
    add("GET", REGISTRY, views.registry, name=ROUTE_PREFIX + "registry")
    add("GET", PACKAGE, views.package_page, name=ROUTE_PREFIX + "package")
    add("GET", PACKAGE_DELETE, views.confirm_delete_package, name=ROUTE_PREFIX + "package_delete")
    add("POST", PACKAGE_DELETE, views.delete_package)
    add("GET", FILE_DELETE, views.confirm_delete_file, name=ROUTE_PREFIX + "file_delete")
    add("POST", FILE_DELETE, views.delete_file)
