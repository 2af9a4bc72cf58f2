"""The request's shared connection (gateway/db/session.py), and the statements
one small upload costs with it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest

from gateway.db.base import Repository
from gateway.db.session import pause_shared_connection, shared_connection
from tests.harness import GatewayFactory

RESET = "pg_advisory_unlock_all"  # asyncpg's reset, sent on every release to a plain pool
# A PUT of a file to an existing package, with a personal access token, on the
# default settings: token; project with the caller's role; push policy; upload
# intent (the body then streams in with no connection held); BEGIN; package
# upsert; file row clearing the intent and applying the verification gate;
# event; COMMIT. It was 17 before the shared connection, the merged project
# lookup, the gate folded into the insert, and the gateway's pool skipping
# asyncpg's reset query on connections that hold no session state (2 per PUT).
STATEMENTS_PER_PUT = 9


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


@contextmanager
def statements_sent(pool: asyncpg.Pool) -> Iterator[list[str]]:
    """The statements run on any of the pool's connections in the block (the
    pool must have made all of them already: min_size = max_size)."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(" ".join(record.query.split()))

    connections = [holder._con for holder in pool._holders if holder._con is not None]
    assert len(connections) == pool.get_max_size()
    for conn in connections:
        conn.add_query_logger(log)
    try:
        yield sent
    finally:
        for conn in connections:
            conn.remove_query_logger(log)


async def backend_pid(repository: Repository) -> int:
    """Which server connection a repository statement ran on."""
    async with repository.connection() as conn:
        return await conn.fetchval("SELECT pg_backend_pid()")


async def test_a_small_put_costs_nine_statements(gateway_factory: GatewayFactory) -> None:
    """Pinned, so the upload path's round trips cannot silently grow back."""
    gateway = await gateway_factory("fs", db_pool_min=10, db_pool_max=10)
    dev = await gateway.developer()
    assert (await gateway.put(dev, os.urandom(4096))).status == 201  # the package exists
    with statements_sent(gateway.pool) as sent:
        assert (await gateway.put(dev, os.urandom(4096), file_name="second.bin")).status == 201
    assert not [q for q in sent if RESET in q], sent
    assert len(sent) == STATEMENTS_PER_PUT, sent
    # The body streams in between the two connections' work: the intent is the
    # last statement before the transaction, the commit the last one overall.
    assert "INSERT INTO upload_intents" in sent[sent.index("BEGIN;") - 1]
    assert sent[-1] == "COMMIT;"


async def test_statements_in_a_scope_share_one_connection(pool: asyncpg.Pool) -> None:
    repository = Repository(pool)
    with statements_sent(pool) as sent:
        async with shared_connection(pool):
            first = await backend_pid(repository)
            async with repository.transaction() as conn:
                assert await conn.fetchval("SELECT pg_backend_pid()") == first
            assert await backend_pid(repository) == first
    assert sum(RESET in q for q in sent) == 1  # one release, at the end of the scope
    assert pool._queue.qsize() == 2  # every connection is back


async def test_a_paused_scope_holds_no_connection(pool: asyncpg.Pool) -> None:
    repository = Repository(pool)
    async with shared_connection(pool) as shared:
        await backend_pid(repository)
        assert shared.conn is not None
        await pause_shared_connection()
        assert shared.conn is None and pool._queue.qsize() == 2
        await backend_pid(repository)  # taken again
        assert shared.conn is not None
    assert shared.conn is None and pool._queue.qsize() == 2


async def test_a_concurrent_statement_takes_its_own_connection(pool: asyncpg.Pool) -> None:
    repository = Repository(pool)
    async with shared_connection(pool):
        async with repository.connection() as held:
            # A task of the request, while the shared connection is busy.
            other = await asyncio.create_task(backend_pid(repository))
            assert other != await held.fetchval("SELECT pg_backend_pid()")
    assert pool._queue.qsize() == 2


async def test_a_statement_outliving_its_scope_gives_the_connection_back(pool: asyncpg.Pool) -> None:
    """A shielded clean-up still running when the request ends."""
    repository = Repository(pool)
    started, finish = asyncio.Event(), asyncio.Event()

    async def cleanup() -> None:
        async with repository.connection() as conn:
            started.set()
            await finish.wait()
            await conn.fetchval("SELECT 1")

    async with shared_connection(pool):
        task = asyncio.create_task(cleanup())
        await started.wait()
    assert pool._queue.qsize() == 1  # still in use by the clean-up
    finish.set()
    await task
    assert pool._queue.qsize() == 2


async def test_a_failed_statement_gives_its_connection_back(pool: asyncpg.Pool) -> None:
    """Whatever state a failure left on it, the pool resets (or replaces) it
    and the next statement takes a fresh one, as without sharing."""
    repository = Repository(pool)
    async with shared_connection(pool) as shared:
        with pytest.raises(ZeroDivisionError):
            async with repository.transaction() as conn:
                await conn.execute("CREATE TEMP TABLE scratch (x int)")
                raise ZeroDivisionError
        assert shared.conn is None and pool._queue.qsize() == 2
        async with repository.connection() as conn:
            # Rolled back, and reset: nothing of the failed work is left.
            assert await conn.fetchval("SELECT to_regclass('pg_temp.scratch')") is None
    assert pool._queue.qsize() == 2
