"""`create_app(settings)`: the one place the application is put together."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.api.drain import drain_middleware
from gateway.api.middleware import error_middleware, on_response_prepare, request_log_middleware
from gateway.api.routes import setup_routes
from gateway.auth import Authenticator
from gateway.background import background_task
from gateway.buffers import ByteBudget
from gateway.db.identity import IdentityRepository
from gateway.db.intents import UploadIntentRepository
from gateway.db.packages import PackageRepository
from gateway.db.pipelines import PipelineRepository
from gateway.db.pool import open_database
from gateway.catalog import Catalog
from gateway.destroyer import PackageDestroyer
from gateway.events.delivery import HookDeliverer
from gateway.events.repository import EventRepository
from gateway.events.service import PackageEvents
from gateway.gc import gc_ctx
from gateway.keys import (
    AUTHENTICATOR, CATALOG, DB_POOL, DESTROYER, HOOK_DELIVERER, IDENTITY, LIFECYCLE, OBJECT_STORE,
    OBJECT_STORES, PACKAGE_EVENTS, PIPELINES, PROTECTION, REGISTRY, SETTINGS, UPLOAD_BUDGET,
)
from gateway.lifecycle import Lifecycle
from gateway.metrics import UPLOAD_BUFFER_IN_USE
from gateway.pipelines import PackagePipelines
from gateway.policy import UploadPolicy
from gateway.protection import ProtectionRules
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.storage import open_object_stores
from gateway.web import setup_web


async def pg_pool_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_database(app[SETTINGS]) as pool:
        app[DB_POOL] = pool
        yield


async def object_store_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_object_stores(app[SETTINGS]) as stores:
        app[OBJECT_STORES], app[OBJECT_STORE] = stores, stores.primary
        yield


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, pool = app[SETTINGS], app[DB_POOL]
    identity, packages = IdentityRepository(pool), PackageRepository(pool)
    app[AUTHENTICATOR] = Authenticator(identity, settings.trusted_proxy_secret)
    app[REGISTRY] = Registry(settings, app[OBJECT_STORES], packages,
                             UploadPolicy(identity, packages), UploadIntentRepository(pool),
                             budget=app[UPLOAD_BUDGET])
    app[DESTROYER] = PackageDestroyer(packages, app[OBJECT_STORES])
    app[IDENTITY], app[PROTECTION] = identity, ProtectionRules(identity)
    app[CATALOG] = Catalog(packages, app[DESTROYER], app[PROTECTION])
    app[PIPELINES] = PackagePipelines(PipelineRepository(pool), app[CATALOG])
    yield


async def destroyer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Removes deleted packages in the background; its first sweep finishes
    whatever a previous process left marked."""
    async with background_task(app[DESTROYER].run(), "package-destroyer"):
        yield


async def package_events_ctx(app: web.Application) -> AsyncIterator[None]:
    """Events, hooks and the gate; the hook worker delivers whatever is due,
    what a previous process left queued included."""
    events = EventRepository(app[DB_POOL])
    app[PACKAGE_EVENTS] = PackageEvents(events, app[SETTINGS])
    app[HOOK_DELIVERER] = HookDeliverer(events, app[DB_POOL], app[SETTINGS])
    async with background_task(app[HOOK_DELIVERER].run(), "hook-deliverer"):
        yield


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[request_log_middleware, drain_middleware, error_middleware],
                          # Bodies are stored as sent: never decompress a Content-Encoding.
                          handler_args={"auto_decompress": False})
    app[SETTINGS] = settings
    app[LIFECYCLE] = Lifecycle()
    app[UPLOAD_BUDGET] = ByteBudget(settings.upload_buffer_bytes, UPLOAD_BUFFER_IN_USE)
    app.cleanup_ctx.append(pg_pool_ctx)
    app.cleanup_ctx.append(object_store_ctx)
    app.cleanup_ctx.append(services_ctx)
    app.cleanup_ctx.append(destroyer_ctx)
    app.cleanup_ctx.append(gc_ctx)
    app.cleanup_ctx.append(package_events_ctx)
    app.on_response_prepare.append(on_response_prepare)
    setup_routes(app)
    setup_web(app)
    return app
