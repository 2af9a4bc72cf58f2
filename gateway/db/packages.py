"""Packages and package files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from gateway.db.base import Repository
from gateway.errors import DuplicatePackage, NotFound, UploadTimeout
from gateway.events import record as record_event
from gateway.events.record import FILE_DELETED, FILE_PUSHED, PACKAGE_DELETED, Event, Origin
from gateway.models import Package, PackageFile


@dataclass(frozen=True)
class NewPackageFile:
    file_name: str
    size: int
    md5: str
    sha1: str
    sha256: str
    file_store: int
    object_key: str
    actor_kind: str
    actor_user_id: int | None
    actor_token_id: int | None
    actor_name: str | None
    ci_pipeline_id: int | None = None
    ci_job_id: int | None = None
    client_address: str | None = None


@dataclass
class DestroyBatch:
    rows: list[asyncpg.Record]
    destroyed: list[int] = field(default_factory=list)  # ids whose objects are gone


class PackageRepository(Repository):
    async def add_generic_file(self, project_id: int, name: str, version: str, status: str | None,
                               new_file: NewPackageFile, *, forbid_duplicate: bool) -> PackageFile:
        """Find or create the package and add the file, and end the upload's
        intent, in one transaction.

        The upsert locks the package row until commit, so concurrent uploads to one
        package queue here and each sees the files committed before it: two uploads
        of one new file name with duplicates forbidden cannot both pass.
        """
        try:
            async with self.transaction() as conn:
                package = await conn.fetchrow(self.query("upsert_generic_package"), project_id,
                                              name, version, status)
                if forbid_duplicate and await conn.fetchval(
                        self.query("file_name_taken_in_package"), package["id"], new_file.file_name):
                    raise DuplicatePackage()
                row = await conn.fetchrow(
                    self.query("insert_package_file_clearing_intent"), package["id"],
                    new_file.file_name, new_file.size, new_file.md5, new_file.sha1, new_file.sha256,
                    new_file.file_store, new_file.object_key, new_file.actor_kind,
                    new_file.actor_user_id, new_file.actor_token_id, new_file.actor_name,
                    new_file.ci_pipeline_id, new_file.ci_job_id, project_id, name,
                )
                if row is None:
                    # The garbage collector took this upload's intent: it outlived
                    # the upload timeout, and its object may be gone already.
                    raise UploadTimeout("the upload took longer than the server allows")
                await self._record_push(conn, project_id, name, version, new_file, row)
        except asyncpg.ForeignKeyViolationError:
            raise NotFound("Project") from None  # deleted while the file streamed in
        return PackageFile.from_row(row)

    async def _record_push(self, conn: asyncpg.Connection, project_id: int, name: str,
                           version: str, new_file: NewPackageFile, row: asyncpg.Record) -> None:
        """Record the push in the upload's transaction; the insert held the file
        back (`gated`) if the project's verification gate covers it."""
        origin = Origin(new_file.actor_kind, new_file.actor_name, new_file.actor_token_id,
                        new_file.client_address, pipeline_id=new_file.ci_pipeline_id,
                        job_id=new_file.ci_job_id)
        await record_event(conn, Event.for_file(
            FILE_PUSHED, project_id, {**row, "package_name": name, "package_version": version},
            origin, gated=row["gated"]))

    async def object_recorded(self, object_key: str) -> bool:
        return await self.fetchval("object_recorded", object_key)

    async def file_is_live(self, file_id: int) -> bool:
        """Neither the file nor its package is being destroyed."""
        return await self.fetchval("package_file_is_live", file_id)

    async def generic_file_name_taken(self, project_id: int, name: str, version: str,
                                      file_name: str) -> bool:
        """A live file of that name, or one awaiting verification (a duplicate)."""
        return await self.fetchval("generic_file_name_taken", project_id, name, version, file_name)

    async def list_packages(self, order: str, project_ids: list[int], name_patterns: list[str] | None,
                            version: str | None, package_type: str | None, status: str | None,
                            limit: int, offset: int) -> list[Package]:
        """One page, in one query; `order` picks the query whose index serves it."""
        rows = await self.fetch(f"list_packages_by_{order}", project_ids, name_patterns, version,
                                package_type, status, limit, offset)
        return [Package.from_row(row) for row in rows]

    async def count_packages(self, project_ids: list[int], name_patterns: list[str] | None,
                             version: str | None, package_type: str | None, status: str | None,
                             cap: int) -> int:
        return await self.fetchval("count_packages", project_ids, name_patterns, version,
                                   package_type, status, cap)

    async def find_package(self, project_id: int, package_id: int) -> Package | None:
        row = await self.fetchrow("find_package", project_id, package_id)
        return Package.from_row(row) if row else None

    async def package_versions(self, package: Package) -> list[asyncpg.Record]:
        return await self.fetch("list_package_versions", package.project_id, package.package_type,
                                package.name, package.id)

    async def list_files(self, package_id: int, order_by: str, sort: str, limit: int,
                         offset: int) -> list[PackageFile]:
        rows = await self.fetch("list_package_files", package_id, order_by, sort, limit, offset)
        return [PackageFile.from_row(row) for row in rows]

    async def find_file_by_id(self, file_id: int) -> PackageFile | None:
        """A file row whatever its status (a download re-reads it to follow a move)."""
        row = await self.fetchrow("find_package_file_by_id", file_id)
        return PackageFile.from_row(row) if row else None

    async def find_file(self, package_id: int, file_id: int) -> PackageFile | None:
        row = await self.fetchrow("find_package_file", package_id, file_id)
        return PackageFile.from_row(row) if row else None

    async def count_files(self, package_id: int) -> int:
        return await self.fetchval("count_package_files", package_id)

    async def mark_package_for_destruction(self, project_id: int, package_id: int, *,
                                           origin: Origin) -> bool:
        """Mark it, and record `package_deleted`, in one transaction."""
        async with self.transaction() as conn:
            row = await conn.fetchrow(self.query("mark_package_for_destruction"), project_id,
                                      package_id)
            if row is not None:
                await record_event(conn, Event(PACKAGE_DELETED, project_id, row["id"], row["name"],
                                               row["version"], origin))
        return row is not None

    async def mark_file_for_destruction(self, project_id: int, package_id: int, file_id: int, *,
                                        origin: Origin) -> bool:
        """Mark it, and record `package_file_deleted`, in one transaction."""
        async with self.transaction() as conn:
            row = await conn.fetchrow(self.query("mark_package_file_for_destruction"), project_id,
                                      package_id, file_id)
            if row is not None:
                await record_event(conn, Event.for_file(
                    FILE_DELETED, project_id, {**row, "package_id": package_id}, origin))
        return row is not None

    @asynccontextmanager
    async def files_to_destroy(self, limit: int, skip: list[int]) -> AsyncIterator[DestroyBatch]:
        """Claim a batch of files to destroy (not those in `skip`); when the block
        ends, the rows of those the caller marked destroyed go, the others stay."""
        async with self.transaction() as conn:
            batch = DestroyBatch(await conn.fetch(self.query("claim_files_to_destroy"), limit, skip))
            yield batch
            if batch.destroyed:
                await conn.execute(self.query("delete_package_files"), batch.destroyed)

    async def delete_destroyed_packages(self) -> int:
        return len(await self.fetch("delete_destroyed_packages"))

    async def find_generic_download(self, project_id: int, name: str, version: str,
                                    file_name: str) -> PackageFile | None:
        row = await self.fetchrow("find_generic_download", project_id, name, version, file_name)
        return PackageFile.from_row(row) if row else None

    async def find_generic_package(self, project_id: int, name: str, version: str) -> Package | None:
        row = await self.fetchrow("find_generic_package", project_id, name, version)
        return Package.from_row(row) if row else None

    async def mark_generic_files_for_destruction(self, project_id: int, package_id: int,
                                                 file_name: str, *, origin: Origin) -> int:
        """Mark every live file of that name, and record `package_file_deleted` for
        each, in one transaction."""
        async with self.transaction() as conn:
            rows = await conn.fetch(self.query("mark_generic_files_for_destruction"), package_id,
                                    file_name)
            for row in rows:
                await record_event(conn, Event.for_file(
                    FILE_DELETED, project_id, {**row, "package_id": package_id}, origin))
        return len(rows)

    async def awaiting_verification(self, project_id: int, name: str, version: str,
                                    file_name: str) -> bool:
        return await self.fetchval("awaiting_verification", project_id, name, version, file_name)

    async def mark_downloaded(self, package_id: int) -> None:
        await self.execute("touch_package_downloaded", package_id)
