"""Removes what was marked for destruction: objects first, then their rows.

Deleting only marks rows (in the request's own statement), so packages leave
lists and downloads at once. This task removes the objects, then the file rows,
then packages left without files. A crash between the two leaves rows still
marked, and the sweep at the next start finishes the work; deleting an object
that is already gone is not an error. Locked rows are skipped, so every gateway
process can run its own sweeper.
"""

from __future__ import annotations

import asyncio

from gateway.db.packages import PackageRepository
from gateway.errors import GatewayError, StorageError
from gateway.logs import get_logger
from gateway.metrics import DESTROYED_FILES
from gateway.storage import ObjectStores
from gateway.background import wait_event

log = get_logger(__name__)

BATCH_SIZE = 100
# How often to look without being woken: picks up other processes' leftovers.
SWEEP_INTERVAL = 60.0
# An object storage refused to remove is retried after this; the rest go on.
RETRY_FAILED_AFTER = 600.0


class PackageDestroyer:
    def __init__(self, packages: PackageRepository, stores: ObjectStores,
                 interval: float = SWEEP_INTERVAL) -> None:
        self._packages = packages
        self._stores = stores
        self._interval = interval
        self._wake = asyncio.Event()
        self._retry_after: dict[int, float] = {}  # file id -> loop time to try again

    def wake(self) -> None:
        """Something was just marked: sweep now rather than at the next interval."""
        self._wake.set()

    async def run(self) -> None:
        """The background loop, from app start to app cleanup."""
        while True:
            self._wake.clear()
            try:
                await self.sweep()
            except (GatewayError, OSError) as exc:
                log.error("destroy_sweep_failed", error=str(exc))
            except Exception:
                log.exception("destroy_sweep_failed")
            await wait_event(self._wake, self._interval)

    async def sweep(self) -> int:
        """Destroy everything marked now; returns how many files went. An object
        that cannot be removed keeps its row and is retried later, without
        holding up the others."""
        destroyed = 0
        while True:
            now = asyncio.get_running_loop().time()
            self._retry_after = {fid: at for fid, at in self._retry_after.items() if at > now}
            async with self._packages.files_to_destroy(BATCH_SIZE, list(self._retry_after)) as batch:
                for row in batch.rows:
                    try:
                        store = self._stores.for_file_store(row["file_store"])
                        await store.delete(row["object_key"])
                    except StorageError as exc:
                        DESTROYED_FILES.labels("failed").inc()
                        self._retry_after[row["id"]] = now + RETRY_FAILED_AFTER
                        log.error("object_delete_failed", key=row["object_key"], error=exc.message,
                                  retry_in_s=RETRY_FAILED_AFTER)
                    else:
                        DESTROYED_FILES.labels("destroyed").inc()
                        batch.destroyed.append(row["id"])
            destroyed += len(batch.destroyed)
            if len(batch.rows) < BATCH_SIZE:
                break
        packages = await self._packages.delete_destroyed_packages()
        if destroyed or packages:
            log.info("destroyed", files=destroyed, packages=packages)
        return destroyed
