"""Wiring the pages into the app: templates, static files, routes, middleware, sessions."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

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
    app[HISTORY] = PackageHistory(queries)
    yield


def setup_web(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("gateway.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, default_helpers=False,
        auto_reload=False)  # the templates ship with the package: no stat() per render
    env.filters.update(FILTERS)
    env.globals["static"] = lambda name: f"{STATIC_PREFIX}/{name}"
    app.middlewares.append(page_middleware)
    app.cleanup_ctx.append(web_ctx)
    page = functools.partial(_add_page, app)
    page("/", "home", GET=views.home)
    page("/-/sign_in", "sign_in", GET=views.sign_in_form, POST=views.sign_in)
    page("/-/sign_out", "sign_out", POST=views.sign_out)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, name=ROUTE_PREFIX + "static")
    page(REGISTRY, "registry", GET=views.registry)
    page(PACKAGE, "package", GET=views.package_page)
    page(PACKAGE_DELETE, "package_delete", GET=views.confirm_delete_package,
         POST=views.delete_package)
    page(FILE_DELETE, "file_delete", GET=views.confirm_delete_file, POST=views.delete_file)


def _add_page(app: web.Application, path: str, name: str, **handlers: Handler) -> None:
    """A named resource: the page middleware knows pages by their name."""
    resource = app.router.add_resource(path, name=ROUTE_PREFIX + name)
    for method, handler in handlers.items():
        resource.add_route(method, handler)
