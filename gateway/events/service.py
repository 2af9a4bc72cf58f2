"""What the REST API and the admin CLI do with events, hooks and the gate."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.api.serializers import package_file, timestamp
from gateway.catalog import Listing, Page, capped_listing
from gateway.errors import BadRequest, Conflict, InvalidParam, NotFound
from gateway.events.destinations import check_hook_url
from gateway.events.payload import event_json
from gateway.events.record import EVENT_KINDS, Origin
from gateway.events.repository import EventRepository
from gateway.models import PackageFile
from gateway.settings import Settings

VERIFICATION_RESULTS = ("passed", "failed")
MAX_REASON = 1000
MAX_PATTERNS = 50


@dataclass(frozen=True)
class StoredFile:
    file: PackageFile
    status: str


@dataclass(frozen=True)
class EventFilter:
    kind: str | None = None
    package_name: str | None = None
    after: dt.datetime | None = None


def hook_json(row: asyncpg.Record) -> dict[str, Any]:
    """Never the secret: only whether there is one."""
    return {"id": row["id"], "project_id": row["project_id"], "url": row["url"],
            "events": list(row["events"]) if row["events"] is not None else list(EVENT_KINDS),
            "has_secret": row["has_secret"], "created_at": timestamp(row["created_at"])}


def delivery_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "event_id": str(row["event_id"]), "kind": row["kind"],
            "status": row["status"], "attempts": row["attempts"],
            "next_attempt_at": timestamp(row["next_attempt_at"]) if row["status"] == "pending" else None,
            "delivered_at": timestamp(row["delivered_at"]), "created_at": timestamp(row["created_at"]),
            "attempt_log": json.loads(row["attempt_log"])}


def gate_json(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        return {"enabled": False, "package_name_patterns": [], "updated_at": None}
    return {"enabled": True, "package_name_patterns": list(row["package_name_patterns"]),
            "updated_at": timestamp(row["updated_at"])}


def gated_file_json(row: asyncpg.Record) -> dict[str, Any]:
    """The file record with where its verification stands."""
    return {**package_file(PackageFile.from_row(row)), "status": row["status"],
            "verified_at": timestamp(row["verified_at"]),
            "verification_failure": row["verification_failure"]}


def _patterns(patterns: Sequence[str]) -> list[str]:
    cleaned = [p.strip() for p in patterns]
    if len(cleaned) > MAX_PATTERNS or any(
            not p or len(p) > 255 or not p.isprintable() for p in cleaned):
        raise BadRequest(f"package_name_patterns must be at most {MAX_PATTERNS} names of "
                         "1 to 255 printable characters (* matches anything)")
    return sorted(set(cleaned))


def _kinds(kinds: Sequence[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    unknown = sorted(set(kinds) - set(EVENT_KINDS))
    if not kinds or unknown:
        raise BadRequest(f"events must be among {', '.join(EVENT_KINDS)}")
    return sorted(set(kinds))


class PackageEvents:
    def __init__(self, events: EventRepository, settings: Settings) -> None:
        self._events = events
        self._settings = settings

    # -- the audit trail ------------------------------------------------------------
    async def list_events(self, project_id: int, where: EventFilter,
                          page: Page) -> Listing[dict[str, Any]]:
        if where.kind is not None and where.kind not in EVENT_KINDS:
            raise InvalidParam("kind")
        filters = (project_id, where.kind, where.package_name, where.after)

        async def fetch(limit: int, offset: int) -> list[dict[str, Any]]:
            rows = await self._events.list_events(*filters, limit, offset)
            return [event_json(row, self._settings.external_url) for row in rows]

        return await capped_listing(lambda cap: self._events.count_events(*filters, cap), fetch,
                                    page)

    # -- hooks ----------------------------------------------------------------------
    async def add_hook(self, project_id: int, url: str, secret: str | None,
                       kinds: Sequence[str] | None) -> dict[str, Any]:
        stored_url = await check_hook_url(url, allow_local=self._settings.allow_local_hooks)
        if secret is not None and (not secret or len(secret) > 255 or not secret.isprintable()):
            raise BadRequest("secret must be 1 to 255 printable characters")
        return hook_json(await self._events.add_hook(project_id, stored_url, secret, _kinds(kinds)))

    async def hooks(self, project_id: int) -> list[dict[str, Any]]:
        return [hook_json(row) for row in await self._events.hooks(project_id)]

    async def remove_hook(self, hook_id: int, project_id: int | None) -> dict[str, Any]:
        row = await self._events.remove_hook(hook_id, project_id)
        if row is None:
            raise NotFound("Hook")
        return hook_json(row)

    async def deliveries(self, hook_id: int, project_id: int | None,
                         page: Page) -> Listing[dict[str, Any]]:
        if await self._events.find_hook(hook_id, project_id) is None:
            raise NotFound("Hook")
        total = await self._events.count_deliveries(hook_id)
        if page.offset >= total:
            return Listing([], page, total, has_more=False)
        rows = await self._events.deliveries(hook_id, page.size, page.offset)
        return Listing([delivery_json(r) for r in rows], page, total,
                       has_more=page.offset + len(rows) < total)

    # -- verification gate ----------------------------------------------------------
    async def gate(self, project_id: int) -> dict[str, Any]:
        return gate_json(await self._events.gate(project_id))

    async def set_gate(self, project_id: int, patterns: Sequence[str]) -> dict[str, Any]:
        return gate_json(await self._events.set_gate(project_id, _patterns(patterns)))

    async def clear_gate(self, project_id: int) -> dict[str, Any]:
        await self._events.clear_gate(project_id)
        return gate_json(None)

    async def _file_row(self, project_id: int, package_id: int, file_id: int) -> asyncpg.Record:
        row = await self._events.gated_file(project_id, package_id, file_id)
        if row is None:
            raise NotFound()  # GitLab's `not_found!` for a file the package lacks
        return row

    async def package_file(self, project_id: int, package_id: int, file_id: int) -> dict[str, Any]:
        return gated_file_json(await self._file_row(project_id, package_id, file_id))

    async def stored_file(self, project_id: int, package_id: int, file_id: int) -> StoredFile:
        row = await self._file_row(project_id, package_id, file_id)
        return StoredFile(PackageFile.from_row(row), row["status"])

    async def verify(self, project_id: int, package_id: int, file_id: int, result: str,
                     reason: str | None, origin: Origin) -> dict[str, Any]:
        if result not in VERIFICATION_RESULTS:
            raise BadRequest("status must be passed or failed")
        if reason is not None and (len(reason) > MAX_REASON or "\x00" in reason):
            raise BadRequest(f"reason must be at most {MAX_REASON} characters")
        row = await self._events.set_verification(project_id, package_id, file_id,
                                                  result == "passed", reason, origin)
        if row is None:
            await self.package_file(project_id, package_id, file_id)  # 404 when there is none
            raise Conflict("package file is not awaiting verification")
        return gated_file_json(row)
