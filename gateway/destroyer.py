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
from gateway.errors import GatewayError
from gateway.logs import get_logger
from gateway.storage import ObjectStore

log = get_logger(__name__)

BATCH_SIZE = 100
# How often to look without being woken: picks up other processes' leftovers.
SWEEP_INTERVAL = 60.0


class PackageDestroyer:
    def __init__(self, packages: PackageRepository, store: ObjectStore,
                 interval: float = SWEEP_INTERVAL) -> None:
        self._packages = packages
        self._store = store
        self._interval = interval
        self._wake = asyncio.Event()

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
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval)
            except TimeoutError:
                pass

    async def sweep(self) -> int:
        """Destroy everything marked now; returns how many files went."""
        destroyed = 0
        while True:
            async with self._packages.files_to_destroy(BATCH_SIZE) as batch:
                for row in batch:
                    await self._store.delete(row["object_key"])
            destroyed += len(batch)
            if len(batch) < BATCH_SIZE:
                break
        packages = await self._packages.delete_destroyed_packages()
        if destroyed or packages:
            log.info("destroyed", files=destroyed, packages=packages)
        return destroyed
