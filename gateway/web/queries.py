"""What the pages read and the sessions they keep: every call into `gateway/db/web.sql`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.db.base import Repository


@dataclass(frozen=True)
class ProjectStats:
    packages: int
    hidden_packages: int
    size: int


@dataclass(frozen=True)
class VisibleProject:
    id: int
    path: str
    visibility: str
    packages: int
    size: int


@dataclass(frozen=True)
class PackageVersion:
    """One package (a name at one version) as the registry lists it."""

    id: int
    name: str
    version: str
    package_type: str
    status: str
    created_at: dt.datetime
    version_count: int  # of its name
    size: int
    files: int
    pushed_by: str | None


@dataclass(frozen=True)
class PackageName:
    name: str
    versions: list[PackageVersion]  # those shown
    version_count: int  # all of them


@dataclass(frozen=True)
class ListedFile:
    id: int
    file_name: str
    size: int
    file_md5: str
    file_sha1: str
    file_sha256: str
    created_at: dt.datetime
    actor_kind: str | None
    actor_name: str | None


@dataclass(frozen=True)
class SessionRow:
    id: int
    user_id: int
    token_id: int
    csrf_secret: str
    expires_at: dt.datetime
    username: str
    scopes: tuple[str, ...]


class WebRepository(Repository):
    async def signing_key(self, candidate: bytes) -> bytes:
        """The stored key, storing `candidate` when there is none yet."""
        for _ in range(3):
            # A process that lost the race to insert may not see the winner's row
            # in the same statement; the next statement does.
            key = await self.fetchval("web_signing_key", candidate)
            if key is not None:
                return bytes(key)
        raise RuntimeError("no web signing key could be stored or read")

    async def insert_session(self, digest: bytes, user_id: int, token_id: int, csrf_secret: str,
                             expires_at: dt.datetime) -> None:
        await self.fetchval("web_insert_session", digest, user_id, token_id, csrf_secret,
                            expires_at)

    async def find_session(self, digest: bytes) -> SessionRow | None:
        row = await self.fetchrow("web_find_session", digest)
        if row is None:
            return None
        return SessionRow(row["id"], row["user_id"], row["token_id"], row["csrf_secret"],
                          row["expires_at"], row["username"], tuple(row["scopes"]))

    async def delete_session(self, digest: bytes) -> None:
        await self.execute("web_delete_session", digest)

    async def visible_projects(self, user_id: int | None) -> list[VisibleProject]:
        return [VisibleProject(**dict(row)) for row in await self.fetch("web_visible_projects", user_id)]

    async def project_stats(self, project_id: int) -> ProjectStats:
        row = await self.fetchrow("web_project_stats", project_id)
        assert row is not None
        return ProjectStats(**dict(row))

    async def count_package_names(self, project_id: int, name_patterns: list[str] | None,
                                  status: str | None) -> int:
        return await self.fetchval("web_count_package_names", project_id, name_patterns, status)

    async def package_names(self, project_id: int, name_patterns: list[str] | None,
                            status: str | None, order_by: str, sort: str, limit: int,
                            offset: int, versions_per_name: int) -> list[PackageName]:
        """A page of names, each with its first versions (in two queries)."""
        names = [row["name"] for row in await self.fetch(
            "web_package_names", project_id, name_patterns, status, order_by, sort, limit, offset)]
        return await self.versions_of(project_id, names, status, order_by, sort, 0,
                                      versions_per_name)

    async def versions_of(self, project_id: int, names: list[str], status: str | None,
                          order_by: str, sort: str, offset: int, limit: int) -> list[PackageName]:
        """These names (those that have versions), each with `limit` versions from `offset` on."""
        if not names:
            return []
        grouped: dict[str, list[PackageVersion]] = {name: [] for name in names}
        for row in await self.fetch("web_package_versions", project_id, status, names, order_by,
                                    sort, offset, limit):
            grouped[row["name"]].append(PackageVersion(**dict(row)))
        return [PackageName(name, versions, versions[0].version_count)
                for name, versions in grouped.items() if versions]

    async def package_files(self, package_id: int) -> list[ListedFile]:
        return [ListedFile(**dict(row)) for row in await self.fetch("web_package_files", package_id)]
