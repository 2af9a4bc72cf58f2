from __future__ import annotations

import asyncio

import asyncpg

from gateway.embedded import DATABASE_NAME, EmbeddedPostgres, ensure_database


async def test_concurrent_first_starts_all_get_the_database(postgres: EmbeddedPostgres) -> None:
    """Gateways and admin commands starting together on a fresh data directory."""
    try:
        await asyncio.gather(*(ensure_database(postgres) for _ in range(6)))
        conn = await asyncpg.connect(postgres.server.get_uri(database=DATABASE_NAME))
        assert await conn.fetchval("SELECT current_database()") == DATABASE_NAME
        await conn.close()
    finally:
        conn = await asyncpg.connect(postgres.server.get_uri())
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        await conn.close()
