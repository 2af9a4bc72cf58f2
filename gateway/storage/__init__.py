"""Object storage: one interface, a filesystem and an S3 implementation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.errors import StorageError
from gateway.settings import Settings
from gateway.storage.base import (
    FILE_STORE_LOCAL, FILE_STORE_REMOTE, ObjectStore, ObjectUpload, PartBuffer, new_object_key,
)
from gateway.storage.fs import FilesystemObjectStore
from gateway.storage.s3 import S3ObjectStore, s3_client

__all__ = ["ObjectStore", "ObjectStores", "ObjectUpload", "PartBuffer", "new_object_key", "open_object_store",
           "open_object_stores"]

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


class ObjectStores:
    """The store new uploads go to, and every store a package-file row may point at
    (its `file_store`), so files stay readable after the backend changes."""

    def __init__(self, primary: ObjectStore, others: list[ObjectStore]) -> None:
        self.primary = primary
        self._by_file_store = {store.file_store: store for store in [*others, primary]}

    def all(self) -> list[ObjectStore]:
        """The primary store first."""
        return [self.primary, *(s for s in self._by_file_store.values() if s is not self.primary)]

    def for_file_store(self, file_store: int) -> ObjectStore:
        try:
            return self._by_file_store[file_store]
        except KeyError:
            raise StorageError("the file is stored on S3, but no S3 bucket is configured "
                               "(GATEWAY_S3_BUCKET)") from None

    def by_name(self, name: str) -> ObjectStore:
        file_store = {"fs": FILE_STORE_LOCAL, "s3": FILE_STORE_REMOTE}[name]
        return self.for_file_store(file_store)


@asynccontextmanager
async def open_object_stores(settings: Settings) -> AsyncIterator[ObjectStores]:
    """The configured store first; with S3 configured, the local folder too, for
    files written before the switch (and as a target to move them back)."""
    async with open_object_store(settings) as primary:
        others: list[ObjectStore] = []
        if settings.s3 is not None:
            others.append(FilesystemObjectStore(settings.objects_dir))
        yield ObjectStores(primary, others)
