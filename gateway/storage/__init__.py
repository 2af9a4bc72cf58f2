"""Object storage: one interface, a filesystem and an S3 implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.settings import Settings
from gateway.storage.base import ObjectStore, ObjectUpload, new_object_key
from gateway.storage.fs import FilesystemObjectStore
from gateway.storage.s3 import S3ObjectStore, s3_client

__all__ = ["ObjectStore", "ObjectUpload", "new_object_key", "open_object_store"]

# Enough connections for several uploads' parts plus downloads at once.
S3_MAX_CONNECTIONS = 64


@asynccontextmanager
async def open_object_store(settings: Settings) -> AsyncIterator[ObjectStore]:
    """The configured store, checked usable before it is handed out."""
    store: ObjectStore
    if settings.s3 is None:
        store = FilesystemObjectStore(settings.objects_dir)
        await store.check()
        yield store
        return
    async with s3_client(settings.s3, S3_MAX_CONNECTIONS) as client:
        store = S3ObjectStore(client, settings.s3, settings.part_concurrency)
        await store.check()
        yield store
