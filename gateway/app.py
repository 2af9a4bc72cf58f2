"""`create_app(settings)`: the one place the application is put together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.api.middleware import error_middleware, on_response_prepare, request_log_middleware
from gateway.api.routes import setup_routes
from gateway.auth import Authenticator
from gateway.db.identity import IdentityRepository
from gateway.db.packages import PackageRepository
from gateway.db.pool import open_database
from gateway.catalog import Catalog
from gateway.destroyer import PackageDestroyer
from gateway.keys import (
    AUTHENTICATOR, CATALOG, DB_POOL, DESTROYER, OBJECT_STORE, REGISTRY, SETTINGS,
)
from gateway.policy import UploadPolicy
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.storage import open_object_store
from gateway.web import setup_web


async def pg_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_database(app[SETTINGS]) as pool:
        app[DB_POOL] = pool
        yield


async def object_store_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_object_store(app[SETTINGS]) as store:
        app[OBJECT_STORE] = store
        yield


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, pool = app[SETTINGS], app[DB_POOL]
    identity, packages = IdentityRepository(pool), PackageRepository(pool)
    app[AUTHENTICATOR] = Authenticator(identity, settings.trusted_proxy_secret)
    app[REGISTRY] = Registry(settings, app[OBJECT_STORE], packages, UploadPolicy(identity, packages))
    app[DESTROYER] = PackageDestroyer(packages, app[OBJECT_STORE])
    app[CATALOG] = Catalog(packages, app[DESTROYER])
    yield


async def destroyer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Removes deleted packages in the background; its first sweep finishes
    whatever a previous process left marked."""
    task = asyncio.create_task(app[DESTROYER].run(), name="package-destroyer")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_log_middleware, error_middleware])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(pg_pool_ctx)
    app.cleanup_ctx.append(object_store_ctx)
    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(destroyer_ctx)
    app.on_response_prepare.append(on_response_prepare)
    setup_routes(app)
    setup_web(app)
    return app
