"""Which pooled connections need a full reset when they go back to the pool.

asyncpg resets every released connection with one more round trip (advisory
unlock, CLOSE ALL, UNLISTEN, RESET ALL: four statements for the server), twice
per upload. Only three things here take session-level state on a pooled
connection: the migration lock, the garbage collector's lock and the webhook
listener. They mark their connection; the pool's reset runs the full reset for
those alone. Every release still gets asyncpg's own cleanup (listeners dropped,
an unfinished transaction rolled back).
"""

from __future__ import annotations

from typing import Any

from gateway.db.queries import QUERIES

# Server process ids: the same for a connection and its pool proxy, and unique
# within a cluster, so several pools in one process cannot mix them up.
_HOLDING: set[int] = set()


def holds_session_state(conn: Any) -> None:
    """`conn` took a session-level lock or a LISTEN: reset it fully on release."""
    _HOLDING.add(conn.get_server_pid())


async def reset_if_it_holds_session_state(conn: Any) -> None:
    """The pool's `reset` hook."""
    pid = conn.get_server_pid()
    if pid in _HOLDING:
        await conn.execute(QUERIES["reset_session_state"])
        _HOLDING.discard(pid)
