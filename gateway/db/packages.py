"""Packages and package files."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.db.base import Repository
from gateway.errors import DuplicatePackage, NotFound
from gateway.models import PackageFile


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


class PackageRepository(Repository):
    async def add_generic_file(self, project_id: int, name: str, version: str, status: str | None,
                               new_file: NewPackageFile, *, forbid_duplicate: bool) -> PackageFile:
        """Find or create the package and add the file, in one transaction.

        The upsert locks the package row until commit, so concurrent uploads to one
        package queue here and each sees the files committed before it: two uploads
        of one new file name with duplicates forbidden cannot both pass.
        """
        try:
            async with self.transaction() as conn:
                package = await conn.fetchrow(self.query("upsert_generic_package"), project_id,
                                              name, version, status)
                if forbid_duplicate and await conn.fetchval(
                        self.query("live_file_exists_in_package"), package["id"], new_file.file_name):
                    raise DuplicatePackage()
                row = await conn.fetchrow(
                    self.query("insert_package_file"), package["id"], new_file.file_name,
                    new_file.size, new_file.md5, new_file.sha1, new_file.sha256,
                    new_file.file_store, new_file.object_key, new_file.actor_kind,
                    new_file.actor_user_id, new_file.actor_token_id, new_file.actor_name,
                )
        except asyncpg.ForeignKeyViolationError:
            raise NotFound("Project") from None  # deleted while the file streamed in
        return PackageFile.from_row(row)

    async def object_recorded(self, object_key: str) -> bool:
        return await self.fetchval("object_recorded", object_key)

    async def generic_file_exists(self, project_id: int, name: str, version: str,
                                  file_name: str) -> bool:
        return await self.fetchval("generic_file_exists", project_id, name, version, file_name)

    async def find_generic_download(self, project_id: int, name: str, version: str,
                                    file_name: str) -> PackageFile | None:
        row = await self.fetchrow("find_generic_download", project_id, name, version, file_name)
        return PackageFile.from_row(row) if row else None

    async def mark_downloaded(self, package_id: int) -> None:
        await self.execute("touch_package_downloaded", package_id)
