"""Packages and package files."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.db.base import Repository
from gateway.db.queries import QUERIES
from gateway.errors import NotFound
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


class PackageRepository(Repository):
    async def add_generic_file(self, project_id: int, name: str, version: str, status: str | None,
                               new_file: NewPackageFile) -> PackageFile:
        """Find or create the package and add the file, in one transaction."""
        try:
            async with self.transaction() as conn:
                package = await conn.fetchrow(QUERIES["upsert_generic_package"], project_id, name,
                                              version, status)
                row = await conn.fetchrow(
                    QUERIES["insert_package_file"], package["id"], new_file.file_name,
                    new_file.size, new_file.md5, new_file.sha1, new_file.sha256,
                    new_file.file_store, new_file.object_key,
                )
        except asyncpg.ForeignKeyViolationError:
            raise NotFound("Project") from None  # deleted while the file streamed in
        return PackageFile.from_row(row)

    async def find_generic_download(self, project_id: int, name: str, version: str,
                                    file_name: str) -> PackageFile | None:
        row = await self.fetchrow("find_generic_download", project_id, name, version, file_name)
        return PackageFile.from_row(row) if row else None

    async def mark_downloaded(self, package_id: int) -> None:
        await self.execute("touch_package_downloaded", package_id)
