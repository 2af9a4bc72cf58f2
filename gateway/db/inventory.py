"""What the registry holds, for operators: projects, users, members, packages, usage."""

from __future__ import annotations

import asyncpg

from gateway.db.base import Repository


class InventoryRepository(Repository):
    async def projects(self) -> list[asyncpg.Record]:
        return await self.fetch("inventory_projects")

    async def users(self) -> list[asyncpg.Record]:
        return await self.fetch("inventory_users")

    async def members(self, project_id: int) -> list[asyncpg.Record]:
        return await self.fetch("inventory_members", project_id)

    async def packages(self, project_id: int) -> list[asyncpg.Record]:
        return await self.fetch("inventory_packages", project_id)

    async def usage(self) -> list[asyncpg.Record]:
        return await self.fetch("inventory_usage")

    async def schema_version(self) -> int | None:
        """The newest migration applied; None when the gateway never migrated it."""
        if not await self.fetchval("schema_migrations_exist"):
            return None
        return await self.fetchval("schema_version")
