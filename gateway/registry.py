"""The generic package registry: publish a file, find one to download.

Publishing is one direction: stream into storage (aborted on any failure), then
record the file in Postgres; if recording fails, the stored object is removed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from gateway.auth import Access
from gateway.buffers import ByteBudget
from gateway.db.intents import UploadIntentRepository
from gateway.db.packages import NewPackageFile, PackageRepository
from gateway.db.session import pause_shared_connection
from gateway.errors import (
    AwaitingVerification, DatabaseError, DatabaseUnreachable, GatewayError, NotFound,
    NotFoundInStorage, PayloadTooLarge, RecordNotFound,
)
from gateway.logs import get_logger
from gateway.metrics import UPLOADS_IN_FLIGHT
from gateway.models import PackageFile
from gateway.policy import UploadPolicy
from gateway.settings import Settings
from gateway.storage import ObjectStore, ObjectStores, new_object_key
from gateway.upload import ExpectedDigests, PartSizer, StoredObject, upload_stream
from gateway.validation import GenericTarget

log = get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Published:
    file: PackageFile
    stored: StoredObject


class Registry:
    def __init__(self, settings: Settings, stores: ObjectStores, packages: PackageRepository,
                 policy: UploadPolicy, intents: UploadIntentRepository, *,
                 budget: ByteBudget | None = None) -> None:
        self.settings = settings
        # Shared by every upload of the process; without one, each upload's is unbounded.
        self.budget = budget
        self.stores = stores
        self.store = stores.primary  # where new uploads go
        self.packages = packages
        self.policy = policy
        self.intents = intents
        self.uploads_in_flight = 0

    def check_declared_size(self, declared_length: int | None) -> None:
        limit = self.settings.effective_max_file_size
        if declared_length is not None and declared_length > limit:
            raise PayloadTooLarge(f"file is larger than the allowed {limit} bytes")

    async def publish(self, access: Access, target: GenericTarget, body: AsyncIterable[bytes], *,
                      declared_length: int | None, status: str | None,
                      expected: ExpectedDigests | None = None,
                      client_address: str | None = None) -> Published:
        self.check_declared_size(declared_length)
        forbid_duplicate = await self.policy.check(access, target)
        key = new_object_key(access.project.id)
        # Before the first byte goes to storage: a crash from here on leaves an
        # intent for the garbage collector, never an unknown object.
        await self.intents.record(key, self.store.name)
        # No database connection is held while the body streams in.
        await pause_shared_connection()
        self.uploads_in_flight += 1
        UPLOADS_IN_FLIGHT.inc()
        try:
            stored = await upload_stream(
                self.store, key, body,
                sizer=PartSizer.for_upload(declared_length, self.settings.max_file_size,
                                           self.settings.part_size),
                max_size=self.settings.effective_max_file_size,
                expected=expected,
                timeout=self.settings.upload_timeout,
                on_clean_failure=lambda: self._forget_intent(key),
                budget=self.budget,
                idle_timeout=self.settings.body_idle_timeout,
            )
            try:
                record = await self.packages.add_generic_file(
                    access.project.id, target.package_name, target.package_version, status,
                    NewPackageFile(
                        file_name=target.file_name, size=stored.size,
                        md5=stored.digests.md5, sha1=stored.digests.sha1,
                        sha256=stored.digests.sha256, file_store=self.store.file_store,
                        object_key=key, actor_kind=access.actor.record_kind,
                        actor_user_id=access.actor.user_id, actor_token_id=access.actor.token_id,
                        actor_name=access.actor.name, ci_pipeline_id=access.actor.ci_pipeline_id,
                        ci_job_id=access.actor.ci_job_id, client_address=client_address,
                    ),
                    forbid_duplicate=forbid_duplicate,
                )
            except BaseException as exc:
                await asyncio.shield(self._discard_unless_recorded(key, exc))
                raise
        finally:
            self.uploads_in_flight -= 1
            UPLOADS_IN_FLIGHT.dec()
        return Published(record, stored)

    async def _discard_unless_recorded(self, key: str, exc: BaseException) -> None:
        """Remove the object of an upload whose row was not written.

        Our own refusals and an unreachable database mean nothing was committed.
        Anything else (a connection lost or a cancellation during COMMIT) may have
        committed the row: look before deleting what a row may point at.
        """
        if not (isinstance(exc, DatabaseUnreachable) or (isinstance(exc, GatewayError)
                                                        and not isinstance(exc, DatabaseError))):
            try:
                recorded = await self.packages.object_recorded(key)
            except Exception:
                # A committed row took the intent with it; an intent left means
                # no row, and the garbage collector removes the object then.
                log.error("upload_outcome_unknown", key=key, error=repr(exc),
                          note="object kept: its row may have been committed")
                return
            if recorded:
                return
        if await self.store.delete_quietly(key):
            await self._forget_intent(key)

    async def _forget_intent(self, key: str) -> None:
        """The upload failed and left nothing in storage: its intent can go. If
        this fails, the garbage collector finds nothing to remove and drops it."""
        try:
            await self.intents.forget(key)
        except GatewayError as exc:
            log.warning("upload_intent_kept", key=key, error=exc.message)

    async def find_download(self, access: Access, target: GenericTarget) -> PackageFile:
        record = await self.packages.find_generic_download(
            access.project.id, target.package_name, target.package_version, target.file_name,
        )
        if record is None:
            if await self.packages.awaiting_verification(
                    access.project.id, target.package_name, target.package_version,
                    target.file_name):
                raise AwaitingVerification()
            raise RecordNotFound()
        return record

    async def mark_downloaded(self, record: PackageFile) -> None:
        await self.packages.mark_downloaded(record.package_id)

    @asynccontextmanager
    async def open_file(self, record: PackageFile, offset: int,
                        length: int) -> AsyncIterator[AsyncIterator[bytes]]:
        """The file's bytes from the store its row names (see `_located`)."""
        async with AsyncExitStack() as stack:
            yield await self._located(record, lambda store, key: stack.enter_async_context(
                store.open(key, offset, length)))

    async def open_local_file(self, record: PackageFile) -> BinaryIO | None:
        """The file as an open local file the caller closes, for sendfile; None
        when it is not in a local store."""
        return await self._located(record, lambda store, key: store.open_local(key))

    async def download_url(self, record: PackageFile, content_disposition: str) -> str | None:
        """A short-lived URL to the file in its store, if the store has such URLs."""
        store = self.stores.for_file_store(record.file_store)
        return await store.presigned_download(
            record.object_key, math.ceil(self.settings.download_url_ttl), content_disposition)

    async def _located(self, record: PackageFile,
                       opener: Callable[[ObjectStore, str], Awaitable[T]]) -> T:
        """`opener(store, key)` on the store and key the row names. When the object
        is gone, the row is read again: a file moved to another store (`gateway
        storage migrate`) is opened there, and one deleted since we found its row
        (its package was just destroyed) is simply not there any more. A live row
        without its object stays a storage error."""
        store = self.stores.for_file_store(record.file_store)
        try:
            return await opener(store, record.object_key)
        except NotFoundInStorage:
            current = await self.packages.find_file_by_id(record.id)
            if current is None or not await self.packages.file_is_live(record.id):
                raise RecordNotFound() from None
            if current.object_key == record.object_key:
                raise
            return await opener(self.stores.for_file_store(current.file_store),
                                current.object_key)
