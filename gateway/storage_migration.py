"""`gateway storage migrate --to s3|fs`: move every file to one store, online.

Each file is copied (under an upload intent, so a copy cut short by a crash is
collected by `gateway gc`), its SHA-256 checked against the row's, and then its row
is switched to the copy in one conditional UPDATE; only then is the old object removed.
So downloads go on throughout (a download that read the row just before the switch
follows it, see Registry.open_file), and an interrupted run is resumed by running
it again: switched rows are done, the rest are copied afresh.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import asyncpg

from gateway.db.base import Repository
from gateway.db.intents import UploadIntentRepository
from gateway.errors import GatewayError
from gateway.logs import get_logger
from gateway.storage import ObjectStore, ObjectStores, new_object_key
from gateway.upload import ExpectedDigests, PartSizer, upload_stream

log = get_logger(__name__)
BATCH_SIZE = 100


@dataclass
class MigrationReport:
    target: str
    moved: int = 0
    bytes: int = 0
    failed: list[dict[str, object]] = field(default_factory=list)
    skipped: int = 0  # deleted or moved by someone else meanwhile

    def as_json(self) -> dict[str, object]:
        return {"target": self.target, "moved": self.moved, "bytes": self.bytes,
                "skipped": self.skipped, "failed": self.failed}


class StorageMigrationRepository(Repository):
    async def pending(self, file_store: int) -> int:
        return await self.fetchval("count_files_in_other_stores", file_store)

    async def batch(self, file_store: int, after_id: int, limit: int) -> list[asyncpg.Record]:
        return await self.fetch("files_in_other_stores", file_store, after_id, limit)

    async def switch(self, file_id: int, old_key: str, file_store: int, new_key: str) -> bool:
        return await self.fetchval("switch_file_store", file_id, old_key, file_store,
                                   new_key) is not None


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator with nothing in it


async def migrate_storage(pool: asyncpg.Pool, stores: ObjectStores, target_name: str, *,
                          part_size: int,
                          progress: Callable[[int, int, int], None] | None = None) -> MigrationReport:
    """Move every live file not in `target_name` there; `progress(done, total, bytes)`."""
    repository, intents = StorageMigrationRepository(pool), UploadIntentRepository(pool)
    target = stores.by_name(target_name)
    report = MigrationReport(target_name)
    total = await repository.pending(target.file_store)
    after_id = 0
    while rows := await repository.batch(target.file_store, after_id, BATCH_SIZE):
        for row in rows:
            after_id = row["id"]
            try:
                moved = await _move(repository, intents, stores, target, row, part_size)
            except GatewayError as exc:
                report.failed.append({"id": row["id"], "error": exc.message})
                log.error("storage_migrate_failed", file_id=row["id"], error=exc.message)
                continue
            if moved:
                report.moved += 1
                report.bytes += row["size"]
            else:
                report.skipped += 1
            if progress is not None:
                progress(report.moved + report.skipped + len(report.failed), total, report.bytes)
    return report


async def _move(repository: StorageMigrationRepository, intents: UploadIntentRepository,
                stores: ObjectStores, target: ObjectStore, row: asyncpg.Record,
                part_size: int) -> bool:
    source = stores.for_file_store(row["file_store"])
    new_key = new_object_key(row["project_id"])
    size = row["size"]
    sizer = PartSizer.for_upload(size, size, part_size)
    expected = ExpectedDigests(sha256=row["file_sha256"])  # a bad copy is never switched to
    await intents.record(new_key, target.name)
    forget = lambda: intents.forget(new_key)  # noqa: E731 - the copy failed and left nothing
    if size == 0:
        await upload_stream(target, new_key, _empty(), sizer=sizer, max_size=0, expected=expected,
                            on_clean_failure=forget)
    else:
        async with source.open(row["object_key"], 0, size) as chunks:
            await upload_stream(target, new_key, chunks, sizer=sizer, max_size=size,
                                expected=expected, on_clean_failure=forget)
    if not await repository.switch(row["id"], row["object_key"], target.file_store, new_key):
        # Deleted or moved meanwhile: the copy is not needed.
        if await target.delete_quietly(new_key):
            await intents.forget(new_key)
        return False
    await source.delete_quietly(row["object_key"])
    return True
