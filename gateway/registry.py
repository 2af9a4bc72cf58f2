"""The generic package registry: publish a file, find one to download.

Publishing is one direction: stream into storage (aborted on any failure), then
record the file in Postgres; if recording fails, the stored object is removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from gateway.auth import Access
from gateway.db.packages import NewPackageFile, PackageRepository
from gateway.errors import (
    AwaitingVerification, DatabaseError, DatabaseUnreachable, GatewayError, NotFound, PayloadTooLarge,
)
from gateway.logs import get_logger
from gateway.models import PackageFile
from gateway.policy import UploadPolicy
from gateway.settings import Settings
from gateway.storage import ObjectStore, new_object_key
from gateway.upload import ExpectedDigests, PartSizer, StoredObject, upload_stream
from gateway.validation import GenericTarget

log = get_logger(__name__)


@dataclass(frozen=True)
class Published:
    file: PackageFile
    stored: StoredObject


class Registry:
    def __init__(self, settings: Settings, store: ObjectStore, packages: PackageRepository,
                 policy: UploadPolicy) -> None:
        self.settings = settings
        self.store = store
        self.packages = packages
        self.policy = policy
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
        self.uploads_in_flight += 1
        try:
            stored = await upload_stream(
                self.store, key, body,
                sizer=PartSizer.for_upload(declared_length, self.settings.max_file_size,
                                           self.settings.part_size),
                max_size=self.settings.effective_max_file_size,
                expected=expected,
                timeout=self.settings.upload_timeout,
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
                        actor_name=access.actor.name, client_address=client_address,
                    ),
                    forbid_duplicate=forbid_duplicate,
                )
            except BaseException as exc:
                await asyncio.shield(self._discard_unless_recorded(key, exc))
                raise
        finally:
            self.uploads_in_flight -= 1
        return Published(record, stored)

    async def _discard_unless_recorded(self, key: str, exc: BaseException) -> None:
        """Remove the object of an upload whose row was not written.

        Our own refusals and an unreachable database mean nothing was committed.
        Anything else (a connection lost or a cancellation during COMMIT) may have
        committed the row: look before deleting what a row may point at.
        """
        if isinstance(exc, DatabaseUnreachable) or (isinstance(exc, GatewayError)
                                                   and not isinstance(exc, DatabaseError)):
            await self.store.delete_quietly(key)
            return
        try:
            recorded = await self.packages.object_recorded(key)
        except Exception:
            log.error("upload_outcome_unknown", key=key, error=repr(exc),
                      note="object kept: its row may have been committed")
            return
        if not recorded:
            await self.store.delete_quietly(key)

    async def find_download(self, access: Access, target: GenericTarget) -> PackageFile:
        record = await self.packages.find_generic_download(
            access.project.id, target.package_name, target.package_version, target.file_name,
        )
        if record is None:
            if await self.packages.awaiting_verification(
                    access.project.id, target.package_name, target.package_version,
                    target.file_name):
                raise AwaitingVerification()
            raise NotFound("Package")
        return record

    async def mark_downloaded(self, record: PackageFile) -> None:
        await self.packages.mark_downloaded(record.package_id)

    def open_file(self, record: PackageFile, offset: int,
                  length: int) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self.store.open(record.object_key, offset, length)
