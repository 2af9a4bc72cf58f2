"""The garbage collector: removes what crashed or failed uploads left in storage.

Three passes, each leaving alone anything younger than the minimum age:

1. intents older than the age: their upload died (or its cleanup failed), so the
   object, its temporary files and its multipart uploads are removed, then the
   intent. One whose removal fails stays, and is retried next time;
2. unfinished uploads (S3 multipart uploads, `.*.tmp` files) that no intent
   holds: their intent went while they stayed (an abort cut short by a second
   cancellation, a retried start whose first answer was lost);
3. complete objects with neither a package-file row nor an intent.

Removals failing several times in a row stop the collection (storage is down);
the next collection retries.

Only keys the gateway makes (`projects/<id>/<32 hex>`, under the S3 prefix) are
ever looked at. `gateway gc` runs one collection; `serve` runs one every
`GATEWAY_GC_INTERVAL` seconds. Either way a Postgres advisory lock lets one
collection run at a time across every process.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.background import background_task
from gateway.db.intents import UploadIntentRepository
from gateway.db.pool import open_database
from gateway.errors import Conflict, GatewayError
from gateway.keys import DB_POOL, OBJECT_STORES, SETTINGS
from gateway.logs import get_logger
from gateway.metrics import GC_REMOVED
from gateway.settings import Settings
from gateway.storage import ObjectStore, ObjectStores, open_object_stores
from gateway.storage.base import StoredItem

log = get_logger(__name__)

BATCH_SIZE = 100
# Removals failing one after another mean storage is down: stop the collection
# rather than hold its batch's rows locked through every key's retries.
GIVE_UP_AFTER_FAILURES = 3


@dataclass
class Collection:
    """What one collection removed (or, dry, would remove), by key."""

    dry_run: bool
    min_age: dt.timedelta
    stale_intents: list[str] = field(default_factory=list)
    unfinished_uploads: list[str] = field(default_factory=list)
    orphan_objects: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # kept for the next collection
    failing_in_a_row: int = 0

    def summary(self) -> dict[str, Any]:
        kinds = {"stale_intents": self.stale_intents,
                 "unfinished_uploads": self.unfinished_uploads,
                 "orphan_objects": self.orphan_objects}
        return {
            "dry_run": self.dry_run,
            "min_age_s": self.min_age.total_seconds(),
            "would_remove" if self.dry_run else "removed": {k: len(v) for k, v in kinds.items()},
            "keys": kinds,
            "failed": self.failed,
        }


class GarbageCollector:
    def __init__(self, store: ObjectStore, intents: UploadIntentRepository) -> None:
        self._store = store
        self._intents = intents

    async def collect_locked(self, min_age: dt.timedelta, *, dry_run: bool = False,
                             also: Sequence[GarbageCollector] = ()) -> Collection:
        """One collection under the advisory lock; Conflict if another runs. `also`:
        collectors of the other stores rows may point at, collected in the same run."""
        async with self._intents.collector_lock() as taken:
            if not taken:
                raise Conflict("another garbage collection is running")
            done = await self.collect(min_age, dry_run=dry_run)
            for other in also:
                await other.collect(min_age, dry_run=dry_run, into=done)
        if not dry_run:
            for kind, keys in (("stale_intent", done.stale_intents),
                               ("unfinished_upload", done.unfinished_uploads),
                               ("orphan_object", done.orphan_objects)):
                GC_REMOVED.labels(kind).inc(len(keys))
        return done

    async def collect(self, min_age: dt.timedelta, *, dry_run: bool = False,
                      into: Collection | None = None) -> Collection:
        done = into or Collection(dry_run, min_age)
        await self._collect_stale_intents(done)
        # Storage written before this moment is old enough; the database is asked
        # after each listing, so a row or intent made meanwhile is seen.
        cutoff = dt.datetime.now(dt.UTC) - min_age
        await self._collect_unheld(self._store.list_unfinished(), cutoff, done,
                                   done.unfinished_uploads, held_by_row=False)
        await self._collect_unheld(self._store.list_objects(), cutoff, done,
                                   done.orphan_objects, held_by_row=True)
        log.info("garbage_collected", **{k: v for k, v in done.summary().items() if k != "keys"})
        return done

    async def _collect_stale_intents(self, done: Collection) -> None:
        skip: list[str] = []  # failed, or (dry) already reported: not claimed again
        while True:
            async with self._intents.claim_stale(done.min_age, self._store.name, BATCH_SIZE,
                                                 skip) as batch:
                for row in batch.rows:
                    key = row["object_key"]
                    skip.append(key)
                    if dry_run_report(done, done.stale_intents, key):
                        continue
                    # A row points at it: the intent is stale, the object is not
                    # (cannot happen while rows clear intents; never lose data).
                    if not row["recorded"] and not await self._remove(
                            self._store.remove_all_for(key), key, done):
                        continue
                    done.stale_intents.append(key)
                    batch.collected.append(key)
            if len(batch.rows) < BATCH_SIZE:
                return

    async def _collect_unheld(self, pages: AsyncIterator[list[StoredItem]], cutoff: dt.datetime,
                              done: Collection, removed: list[str], *, held_by_row: bool) -> None:
        """Remove listed items older than `cutoff` that no intent holds (nor, for
        complete objects, a package-file row)."""
        async for page in pages:
            old = [item for item in page if item.modified < cutoff]
            if not old:
                continue
            claims = await self._intents.claims(sorted({item.key for item in old}))
            for item in old:
                claim = claims[item.key]
                if claim.intended or (held_by_row and claim.recorded):
                    continue
                if dry_run_report(done, removed, item.key):
                    continue
                removal = (self._store.delete(item.key) if item.upload_ref is None
                           else self._store.remove_unfinished(item))
                if await self._remove(removal, item.key, done):
                    removed.append(item.key)

    @staticmethod
    async def _remove(removal: Awaitable[None], key: str, done: Collection) -> bool:
        try:
            await removal
        except GatewayError as exc:
            log.error("gc_remove_failed", key=key, error=exc.message)
            done.failed.append(key)
            done.failing_in_a_row += 1
            if done.failing_in_a_row >= GIVE_UP_AFTER_FAILURES:
                raise
            return False
        done.failing_in_a_row = 0
        return True


def dry_run_report(done: Collection, into: list[str], key: str) -> bool:
    """In a dry run, note what would go and tell the caller to touch nothing."""
    if done.dry_run:
        into.append(key)
    return done.dry_run


async def run_collection(settings: Settings, min_age: dt.timedelta | None,
                         dry_run: bool) -> dict[str, Any]:
    """`gateway gc`: one collection on the configured database and store."""
    if min_age is None:
        min_age = dt.timedelta(seconds=settings.effective_gc_min_age)
    async with open_database(settings, migrate=True) as pool, \
            open_object_stores(settings) as stores:
        first, *others = collectors_for(stores, UploadIntentRepository(pool))
        return (await first.collect_locked(min_age, dry_run=dry_run, also=others)).summary()


def collectors_for(stores: ObjectStores, intents: UploadIntentRepository) -> list[GarbageCollector]:
    """One collector per store, the primary first: files moved by `storage
    migrate` may have left copies in the other."""
    return [GarbageCollector(store, intents) for store in stores.all()]


async def periodic_collection(collectors: list[GarbageCollector], settings: Settings) -> None:
    """`serve`'s background loop: a collection every interval, skipped when
    another process holds the lock."""
    min_age = dt.timedelta(seconds=settings.effective_gc_min_age)
    while True:
        await asyncio.sleep(settings.gc_interval)
        try:
            await collectors[0].collect_locked(min_age, also=collectors[1:])
        except Conflict:
            log.info("gc_skipped", reason="another garbage collection is running")
        except GatewayError as exc:
            log.error("gc_failed", error=exc.message)
        except Exception:
            log.exception("gc_failed")


async def gc_ctx(app: web.Application) -> AsyncIterator[None]:
    """Runs `periodic_collection` from app start to cleanup."""
    settings = app[SETTINGS]
    if not settings.gc_interval:
        yield
        return
    collectors = collectors_for(app[OBJECT_STORES], UploadIntentRepository(app[DB_POOL]))
    async with background_task(periodic_collection(collectors, settings), "gc"):
        yield
