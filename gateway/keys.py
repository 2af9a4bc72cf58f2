"""Typed keys for what the app shares: settings and the resources opened at start."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.auth import Authenticator
from gateway.buffers import ByteBudget
from gateway.catalog import Catalog
from gateway.db.identity import IdentityRepository
from gateway.destroyer import PackageDestroyer
from gateway.pipelines import PackagePipelines
from gateway.protection import ProtectionRules
from gateway.lifecycle import Lifecycle
from gateway.events.delivery import HookDeliverer
from gateway.events.service import PackageEvents
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.storage import ObjectStore, ObjectStores

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
OBJECT_STORE = web.AppKey("object_store", ObjectStore)  # where new uploads go
OBJECT_STORES = web.AppKey("object_stores", ObjectStores)  # every store rows point at
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
REGISTRY = web.AppKey("registry", Registry)
CATALOG = web.AppKey("catalog", Catalog)
DESTROYER = web.AppKey("destroyer", PackageDestroyer)
IDENTITY = web.AppKey("identity", IdentityRepository)
PROTECTION = web.AppKey("protection", ProtectionRules)
PIPELINES = web.AppKey("pipelines", PackagePipelines)
UPLOAD_BUDGET = web.AppKey("upload_budget", ByteBudget)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)

PACKAGE_EVENTS = web.AppKey("package_events", PackageEvents)
HOOK_DELIVERER = web.AppKey("hook_deliverer", HookDeliverer)
