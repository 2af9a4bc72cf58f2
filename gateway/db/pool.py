"""The asyncpg pool: opened once per app (or CLI command), migrated, then shared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from gateway.db.migrate import apply_migrations
from gateway.db.session_state import reset_if_it_holds_session_state
from gateway.embedded import start_embedded
from gateway.errors import DatabaseError
from gateway.logs import get_logger
from gateway.settings import Settings

log = get_logger(__name__)


@asynccontextmanager
async def open_database(settings: Settings, *, migrate: bool | None = None) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the configured database, or on the embedded one when none is set."""
    embedded = None
    dsn = settings.database_url
    if dsn is None:
        embedded = await start_embedded(settings.postgres_dir)
        dsn = embedded.dsn
        log.info("embedded_postgres_ready", pgdata=str(settings.postgres_dir))
    try:
        try:
            pool = await asyncpg.create_pool(
                dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                command_timeout=60, reset=reset_if_it_holds_session_state,
            )
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise DatabaseError(f"cannot connect to the database: {exc}") from exc
        try:
            if settings.migrate_on_start if migrate is None else migrate:
                async with pool.acquire() as conn:
                    applied = await apply_migrations(conn)
                if applied:
                    log.info("migrations_applied", migrations=applied)
            yield pool
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
