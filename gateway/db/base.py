"""Shared plumbing for repositories: named queries and asyncpg error translation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gateway.db.queries import QUERIES
from gateway.db.session import shared_for
from gateway.errors import BadRequest, DatabaseError, DatabaseUnreachable
from gateway.metrics import DATABASE_CALL_DURATION, DATABASE_CALL_ERRORS, timed

# Failures of the database service itself (as opposed to a rejected statement):
# the request may be retried, so they surface as 503.
UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
)


class Repository:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @staticmethod
    def query(name: str) -> str:
        return QUERIES[name]

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """The request's shared connection when one is free (gateway/db/session.py),
        else one of the pool's."""
        shared = shared_for(self._pool)
        try:
            conn = await (shared.take() if shared is not None else self._pool.acquire())
        except UNAVAILABLE as exc:
            raise DatabaseUnreachable(f"database unavailable: {exc.__class__.__name__}") from exc
        failed = True
        try:
            yield conn
            failed = False
        except UNAVAILABLE as exc:
            raise DatabaseError(f"database connection failed: {exc.__class__.__name__}") from exc
        except asyncpg.DataError as exc:
            # A value Postgres cannot take (a NUL byte, a number past bigint): the
            # caller's input, not our fault.
            raise BadRequest("a value in the request is not valid") from exc
        finally:
            if shared is not None:
                await shared.give_back(failed=failed)
            else:
                await self._pool.release(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn, _timed(query):
            return await conn.fetchrow(QUERIES[query], *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn, _timed(query):
            return await conn.fetch(QUERIES[query], *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn, _timed(query):
            return await conn.fetchval(QUERIES[query], *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connection() as conn, _timed(query):
            return await conn.execute(QUERIES[query], *args)


@asynccontextmanager
async def _timed(query: str) -> AsyncIterator[None]:
    with timed(DATABASE_CALL_DURATION, DATABASE_CALL_ERRORS, query):
        yield
