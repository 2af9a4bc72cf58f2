"""A package's History tab and the registry's "built from" CI ref.

Both come from the package events (`package_events`, gateway/events/: one row
per push, deletion or verification, with the actor, token, file, digest and the
CI pipeline, ref and sha). The templates show them in their own blocks
(`history` and `ci_ref`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gateway.models import Package
from gateway.web.queries import WebRepository

HISTORY_LIMIT = 200
# How each event kind reads in the History tab.
KIND_LABELS = {"package_file_pushed": "pushed", "package_file_deleted": "deleted",
               "package_deleted": "package deleted", "package_file_verified": "verified"}


@dataclass(frozen=True)
class HistoryEntry:
    kind: str
    created_at: dt.datetime
    actor_kind: str | None
    actor_name: str | None
    token_id: int | None
    file_name: str | None
    size: int | None
    file_sha256: str | None
    pipeline_id: int | None
    ref: str | None
    sha: str | None

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True)
class BuiltFrom:
    ref: str
    sha: str | None


class PackageHistory:
    def __init__(self, queries: WebRepository) -> None:
        self._queries = queries

    async def of_package(self, package: Package) -> list[HistoryEntry]:
        rows = await self._queries.fetch("web_package_history", package.project_id, package.id,
                                         HISTORY_LIMIT)
        return [HistoryEntry(**dict(row)) for row in rows]

    async def built_from(self, project_id: int, package_id: int | None = None) -> BuiltFrom | None:
        """The ref the project's (or one package's) latest push was built from."""
        row = await self._queries.fetchrow("web_latest_ref", project_id, package_id)
        return BuiltFrom(row["ref"], row["sha"]) if row else None

    async def refs(self, project_id: int, package_ids: list[int]) -> dict[int, str]:
        """Each package's latest CI ref, where one is known."""
        if not package_ids:
            return {}
        rows = await self._queries.fetch("web_package_refs", project_id, package_ids)
        return {row["package_id"]: row["ref"] for row in rows}
