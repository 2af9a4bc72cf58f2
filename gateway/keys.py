"""Typed keys for what the app shares: settings and the resources opened at start."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.auth import Authenticator
from gateway.catalog import Catalog
from gateway.destroyer import PackageDestroyer
from gateway.events.delivery import HookDeliverer
from gateway.events.service import PackageEvents
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.storage import ObjectStore

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
OBJECT_STORE = web.AppKey("object_store", ObjectStore)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
REGISTRY = web.AppKey("registry", Registry)
CATALOG = web.AppKey("catalog", Catalog)
DESTROYER = web.AppKey("destroyer", PackageDestroyer)

PACKAGE_EVENTS = web.AppKey("package_events", PackageEvents)
HOOK_DELIVERER = web.AppKey("hook_deliverer", HookDeliverer)
