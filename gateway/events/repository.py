"""All SQL of events, hooks, deliveries and the verification gate (gateway/db/events.sql)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from gateway.db.base import Repository
from gateway.events.record import FILE_VERIFIED, Event, Origin, record


class EventRepository(Repository):
    # -- events -------------------------------------------------------------------
    async def list_events(self, project_id: int, kind: str | None, package_name: str | None,
                          after: dt.datetime | None, limit: int, offset: int) -> list[asyncpg.Record]:
        return await self.fetch("list_package_events", project_id, kind, package_name, after,
                                limit, offset)

    async def count_events(self, project_id: int, kind: str | None, package_name: str | None,
                           after: dt.datetime | None, cap: int) -> int:
        return await self.fetchval("count_package_events", project_id, kind, package_name, after, cap)

    # -- hooks ---------------------------------------------------------------------
    async def add_hook(self, project_id: int, url: str, secret: str | None,
                       events: Sequence[str] | None) -> asyncpg.Record:
        row = await self.fetchrow("insert_package_hook", project_id, url, secret,
                                  list(events) if events is not None else None)
        assert row is not None
        return row

    async def hooks(self, project_id: int) -> list[asyncpg.Record]:
        return await self.fetch("list_package_hooks", project_id)

    async def find_hook(self, hook_id: int, project_id: int | None) -> asyncpg.Record | None:
        return await self.fetchrow("find_package_hook", hook_id, project_id)

    async def remove_hook(self, hook_id: int, project_id: int | None) -> asyncpg.Record | None:
        return await self.fetchrow("delete_package_hook", hook_id, project_id)

    async def deliveries(self, hook_id: int, limit: int, offset: int) -> list[asyncpg.Record]:
        return await self.fetch("list_hook_deliveries", hook_id, limit, offset)

    async def count_deliveries(self, hook_id: int) -> int:
        return await self.fetchval("count_hook_deliveries", hook_id)

    # -- the outbox ------------------------------------------------------------------
    async def claim_due(self, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
        async with self.transaction() as conn:
            return await conn.fetch(self.query("claim_due_deliveries"), limit, lease_seconds)

    async def finish_attempt(self, delivery_id: int, status_code: int | None, duration_ms: int,
                             error: str | None, status: str, retry_in: float | None) -> None:
        await self.execute("finish_delivery_attempt", delivery_id, status_code, duration_ms,
                           error, status, retry_in)

    async def release(self, delivery_ids: list[int]) -> None:
        await self.execute("release_deliveries", delivery_ids)

    # -- verification gate -------------------------------------------------------------
    async def set_gate(self, project_id: int, patterns: list[str]) -> asyncpg.Record:
        row = await self.fetchrow("upsert_verification_gate", project_id, patterns)
        assert row is not None
        return row

    async def gate(self, project_id: int) -> asyncpg.Record | None:
        return await self.fetchrow("find_verification_gate", project_id)

    async def clear_gate(self, project_id: int) -> asyncpg.Record | None:
        return await self.fetchrow("delete_verification_gate", project_id)

    async def gated_file(self, project_id: int, package_id: int, file_id: int) -> asyncpg.Record | None:
        return await self.fetchrow("find_gated_file", project_id, package_id, file_id)

    async def set_verification(self, project_id: int, package_id: int, file_id: int, passed: bool,
                               reason: str | None, origin: Origin) -> asyncpg.Record | None:
        """Record a pipeline's verdict; a pass makes the file live and records
        `package_file_verified`, in one transaction. None: not waiting for one."""
        async with self.transaction() as conn:
            row = await conn.fetchrow(self.query("set_verification_result"), project_id, package_id,
                                      file_id, "default" if passed else "error",
                                      None if passed else reason)
            if row is not None and passed:
                await record(conn, Event.for_file(FILE_VERIFIED, project_id, row, origin, gated=True))
        return row
