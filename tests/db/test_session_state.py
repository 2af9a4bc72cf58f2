"""The gateway's pool resets a released connection fully only when it took
session-level state: an advisory lock or a LISTEN never outlives its user."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.db.session_state import holds_session_state, reset_if_it_holds_session_state

RESET = "pg_advisory_unlock_all"
LOCK = 424242


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """One connection, so every acquire gets the same one back."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1,
                                     reset=reset_if_it_holds_session_state)
    try:
        yield pool
    finally:
        await pool.close()


async def held_locks(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")


async def test_an_ordinary_release_sends_nothing(pool: asyncpg.Pool) -> None:
    sent: list[str] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda record: sent.append(record.query))
        await conn.fetchval("SELECT 1")
    async with pool.acquire() as conn:  # the same connection: still logged
        await conn.fetchval("SELECT 2")
    assert sent == ["SELECT 1", "SELECT 2"]


async def test_a_marked_connection_loses_its_lock_and_listen_on_release(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        holds_session_state(conn)
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK)
        # As a listener whose UNLISTEN was lost leaves it (asyncpg's own
        # listeners must be removed before release anyway).
        await conn.execute("LISTEN gateway_test_channel")
        assert await held_locks(conn) == 1
    async with pool.acquire() as conn:
        assert await held_locks(conn) == 0
        assert await conn.fetchval("SELECT count(*) FROM pg_listening_channels()") == 0
        sent: list[str] = []
        conn.add_query_logger(lambda record: sent.append(record.query))
    # Marked once: the next release is an ordinary one again.
    async with pool.acquire() as conn:
        pass
    assert not [q for q in sent if RESET in q]


async def test_an_unfinished_transaction_is_still_rolled_back(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS scratch_rollback (x int)")
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN; INSERT INTO scratch_rollback VALUES (1)")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM scratch_rollback") == 0
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE scratch_rollback")
