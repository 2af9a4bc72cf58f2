"""Upload intents: which object keys uploads are writing, and which process owns each.

An intent is written before the first byte goes to storage and removed in the
transaction that records the package file, or once a failed upload has cleaned
up after itself. Intents that outlive their upload are what the garbage
collector (gateway/gc.py) collects.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from gateway.db.base import Repository
from gateway.db.session_state import holds_session_state

# pg_advisory_lock key of the garbage collector: one collection at a time
# across every process on the database ("gatewaygc" read as hex, roughly).
GC_LOCK_KEY = 0x6761_7465_7761_7967


@dataclass(frozen=True)
class ProcessOwner:
    host: str
    pid: int
    # Random per process: a pid alone is reused after the process dies.
    id: str


_owner: ProcessOwner | None = None


def process_owner() -> ProcessOwner:
    """This process, as intents name their owner (recomputed after a fork)."""
    global _owner
    if _owner is None or _owner.pid != os.getpid():
        _owner = ProcessOwner(socket.gethostname(), os.getpid(), secrets.token_hex(8))
    return _owner


@dataclass(frozen=True)
class KeyClaim:
    recorded: bool  # a package-file row points at the key
    intended: bool  # an upload intent holds it

    @property
    def held(self) -> bool:
        return self.recorded or self.intended


@dataclass
class StaleIntents:
    rows: list[asyncpg.Record]
    collected: list[str] = field(default_factory=list)  # keys whose storage is clean


class UploadIntentRepository(Repository):
    async def record(self, object_key: str, store: str) -> None:
        owner = process_owner()
        await self.execute("insert_upload_intent", object_key, store, owner.host, owner.pid,
                           owner.id)

    async def forget(self, object_key: str) -> None:
        await self.execute("delete_upload_intent", object_key)

    @asynccontextmanager
    async def claim_stale(self, min_age: dt.timedelta, store: str, limit: int,
                          skip: list[str]) -> AsyncIterator[StaleIntents]:
        """Lock a batch of intents older than `min_age` (not those in `skip`); when
        the block ends, the rows the caller marked collected go, the others stay.
        While one is locked, its upload's commit (which deletes the intent) waits,
        then finds no intent and records nothing."""
        async with self.transaction() as conn:
            batch = StaleIntents(await conn.fetch(self.query("claim_stale_upload_intents"),
                                                  min_age, store, limit, skip))
            yield batch
            if batch.collected:
                await conn.execute(self.query("delete_upload_intents"), batch.collected)

    async def claims(self, keys: list[str]) -> dict[str, KeyClaim]:
        """For each of `keys`: whether a package-file row or an intent holds it."""
        rows = await self.fetch("key_claims", keys)
        return {row["key"]: KeyClaim(row["recorded"], row["intended"]) for row in rows}

    @asynccontextmanager
    async def collector_lock(self) -> AsyncIterator[bool]:
        """Hold the collector's advisory lock for the block if no one else does;
        yields whether it was taken."""
        async with self.connection() as conn:
            holds_session_state(conn)
            taken = await conn.fetchval(self.query("try_gc_lock"), GC_LOCK_KEY)
            try:
                yield taken
            finally:
                if taken:
                    await conn.fetchval(self.query("gc_unlock"), GC_LOCK_KEY)
