"""The CI pipelines that pushed files to packages."""

from __future__ import annotations

import asyncpg

from gateway.db.base import Repository


class PipelineRepository(Repository):
    async def for_package(self, package_id: int, limit: int, offset: int) -> list[asyncpg.Record]:
        return await self.fetch("list_package_pipelines", package_id, limit, offset)

    async def count_for_package(self, package_id: int) -> int:
        return await self.fetchval("count_package_pipelines", package_id)

    async def latest_for_packages(self, package_ids: list[int]) -> dict[int, asyncpg.Record]:
        rows = await self.fetch("latest_package_pipelines", package_ids)
        return {row["package_id"]: row for row in rows}
