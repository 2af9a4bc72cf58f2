"""One pooled connection shared by the statements of a stretch of one request.

Every release to the pool costs a round trip (asyncpg's reset query), so a request
that runs several short statements one after another (credential, project, role,
upload policy, upload intent) runs them on one connection inside
`shared_connection(pool)`. Repositories pick it up through a context variable
(`Repository.connection`); where it is already in use (a task of the request
running a statement at the same time), they take one from the pool as before.

The connection is held only while statements run back to back: `pause()` gives
it back before anything slow (a request body streaming in), and the next
statement takes one again. Nothing session-scoped is left on it between
statements (no session advisory locks, no LISTEN), so sharing it is as safe as
the pool's own reuse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

import asyncpg

_current: ContextVar[SharedConnection | None] = ContextVar("shared_db_connection", default=None)


class SharedConnection:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.conn: asyncpg.Connection | None = None
        self.busy = False  # a statement (or transaction) runs on it right now
        self.closed = False  # the scope ended; whoever still uses it releases it

    async def take(self) -> asyncpg.Connection:
        """The shared connection, acquired on first use; the caller must be the
        only user (`busy` is False) and calls `give_back` when done."""
        self.busy = True  # before awaiting: no other task may take it meanwhile
        if self.conn is None:
            try:
                self.conn = await self.pool.acquire()
            except BaseException:
                self.busy = False
                raise
        return self.conn

    async def give_back(self, *, failed: bool = False) -> None:
        """`failed`: the statement raised. The connection then goes back to the
        pool (which resets or replaces it) and the next statement takes a fresh
        one, as it would without sharing. A shielded clean-up that outlived the
        scope gives its connection back too."""
        self.busy = False
        if failed or self.closed:
            await self._release()

    async def pause(self) -> None:
        """Back to the pool until the next statement (none is running now)."""
        if not self.busy:
            await self._release()

    async def _release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.pool.release(conn)


def shared_for(pool: asyncpg.Pool) -> SharedConnection | None:
    """The current scope's connection for `pool`, if there is one and it is free."""
    shared = _current.get()
    if shared is None or shared.pool is not pool or shared.busy or shared.closed:
        return None
    return shared


@asynccontextmanager
async def shared_connection(pool: asyncpg.Pool) -> AsyncIterator[SharedConnection]:
    shared = SharedConnection(pool)
    token = _current.set(shared)
    try:
        yield shared
    finally:
        _current.reset(token)
        shared.closed = True
        await shared.pause()


async def pause_shared_connection() -> None:
    """Give the current scope's connection back before something slow."""
    shared = _current.get()
    if shared is not None:
        await shared.pause()
