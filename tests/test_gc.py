"""The garbage collector, in process: what it removes, what it must never touch,
dry runs, and the periodic run in `serve`."""

from __future__ import annotations

import datetime as dt
import os
import uuid

from gateway.db.intents import UploadIntentRepository
from gateway.errors import Conflict
from gateway.gc import GarbageCollector
from gateway.settings import MiB
from tests.harness import Gateway, GatewayFactory, held_upload, wait_for

NOW = dt.timedelta(0)
HOUR = dt.timedelta(hours=1)


def collector(gateway: Gateway) -> GarbageCollector:
    return GarbageCollector(gateway.registry.store, UploadIntentRepository(gateway.pool))


def plant_object(gateway: Gateway, key: str) -> None:
    """A complete object behind the gateway's back."""
    if gateway.settings.s3 is None:
        path = gateway.settings.objects_dir / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"orphan")
    else:
        gateway.s3_admin.put_object(Bucket=gateway.settings.s3.bucket, Key=key, Body=b"orphan")


def plant_unfinished(gateway: Gateway, key: str) -> None:
    """A temp file or a multipart upload, as a process that died would leave."""
    if gateway.settings.s3 is None:
        folder = (gateway.settings.objects_dir / key).parent
        folder.mkdir(parents=True, exist_ok=True)
        name = key.rsplit("/", 1)[1]
        (folder / f".{name}.{uuid.uuid4().hex}.tmp").write_bytes(b"partial")
    else:
        upload = gateway.s3_admin.create_multipart_upload(Bucket=gateway.settings.s3.bucket,
                                                          Key=key)
        gateway.s3_admin.upload_part(Bucket=gateway.settings.s3.bucket, Key=key, PartNumber=1,
                                     UploadId=upload["UploadId"], Body=b"partial")


def new_key() -> str:
    return f"projects/1/{uuid.uuid4().hex}"


async def test_removes_orphans_and_unfinished_uploads_without_intents(gateway: Gateway) -> None:
    orphan, unfinished = new_key(), new_key()
    plant_object(gateway, orphan)
    plant_unfinished(gateway, unfinished)

    done = await collector(gateway).collect(NOW)

    assert done.orphan_objects == [orphan]
    assert done.unfinished_uploads == [unfinished]
    assert done.failed == []
    await gateway.assert_nothing_stored()


async def test_leaves_young_leftovers_recorded_files_and_foreign_keys(gateway: Gateway) -> None:
    dev = await gateway.developer()
    assert (await gateway.put(dev, os.urandom(6 * MiB))).status == 201
    recorded = gateway.stored_objects()
    plant_object(gateway, new_key())
    if gateway.settings.s3 is None:
        # moto dates every multipart upload 2010-11-10: none is young there.
        plant_unfinished(gateway, new_key())
    # Not keys the gateway makes: never looked at, whatever their age.
    plant_object(gateway, "projects/1/not-a-gateway-key")
    plant_object(gateway, "elsewhere/" + uuid.uuid4().hex)
    before = (gateway.stored_objects(), gateway.multipart_uploads())

    young = await collector(gateway).collect(HOUR)  # everything planted is younger

    assert young.orphan_objects == young.unfinished_uploads == young.stale_intents == []
    assert (gateway.stored_objects(), gateway.multipart_uploads()) == before

    await collector(gateway).collect(NOW)

    left = gateway.stored_objects()
    assert set(recorded) <= set(left)
    assert "projects/1/not-a-gateway-key" in left
    assert any(key.startswith("elsewhere/") for key in left)
    assert len(left) == len(recorded) + 2
    assert gateway.multipart_uploads() == []
    assert (await gateway.get(dev)).status == 200


async def test_dry_run_reports_and_removes_nothing(gateway: Gateway) -> None:
    orphan, unfinished, stale = new_key(), new_key(), new_key()
    plant_object(gateway, orphan)
    plant_unfinished(gateway, unfinished)
    plant_object(gateway, stale)
    await gateway.registry.intents.record(stale, gateway.registry.store.name)
    before = (gateway.stored_objects(), gateway.multipart_uploads())

    dry = await collector(gateway).collect(NOW, dry_run=True)

    assert (dry.orphan_objects, dry.unfinished_uploads, dry.stale_intents) == (
        [orphan], [unfinished], [stale])
    assert dry.summary()["would_remove"] == {"stale_intents": 1, "unfinished_uploads": 1,
                                             "orphan_objects": 1}
    assert (gateway.stored_objects(), gateway.multipart_uploads()) == before
    assert await gateway.count("upload_intents") == 1

    done = await collector(gateway).collect(NOW)
    assert done.summary()["removed"] == dry.summary()["would_remove"]
    await gateway.assert_nothing_stored()


async def test_stale_intent_takes_its_object_temp_files_and_uploads(gateway: Gateway) -> None:
    key = new_key()
    await gateway.registry.intents.record(key, gateway.registry.store.name)
    plant_unfinished(gateway, key)
    plant_unfinished(gateway, key)
    plant_object(gateway, key)

    # Young, the intent protects everything of its key even from an age-0 pass
    # over storage; only its own age makes it stale.
    assert (await collector(gateway).collect(HOUR)).stale_intents == []
    done = await collector(gateway).collect(NOW)

    assert done.stale_intents == [key]
    assert done.orphan_objects == done.unfinished_uploads == []
    await gateway.assert_nothing_stored()


async def test_upload_in_progress_survives_a_collection(gateway: Gateway) -> None:
    """A live upload's intent is young: the collector leaves its parts alone and
    the upload completes."""
    dev = await gateway.developer()
    data = os.urandom(12 * MiB)
    upload, release = await held_upload(gateway, dev, data[:7 * MiB], data[7 * MiB:])
    done = await collector(gateway).collect(dt.timedelta(minutes=5))
    release.set()

    assert (await upload).status == 201
    assert done.stale_intents == done.unfinished_uploads == done.orphan_objects == []
    assert await (await gateway.get(dev)).read() == data
    assert await gateway.count("upload_intents") == 0


async def test_upload_whose_intent_was_collected_records_nothing(gateway: Gateway) -> None:
    """An upload outliving the collector's age loses its intent, then its object:
    its row is refused (408) rather than written without an object."""
    dev = await gateway.developer()
    upload, release = await held_upload(gateway, dev, os.urandom(6 * MiB), b"tail")
    done = await collector(gateway).collect(NOW)
    release.set()

    response = await upload
    assert len(done.stale_intents) == 1
    assert response.status in {408, 503}  # refused at the insert, or the store lost its upload
    await gateway.wait_until_idle()
    await gateway.assert_nothing_stored()


async def test_one_collection_at_a_time(gateway: Gateway) -> None:
    intents = UploadIntentRepository(gateway.pool)
    async with intents.collector_lock() as taken:
        assert taken
        try:
            await collector(gateway).collect_locked(NOW)
        except Conflict:
            pass
        else:
            raise AssertionError("a second collection ran under the lock")
    assert (await collector(gateway).collect_locked(NOW)).failed == []


async def test_serve_collects_periodically(gateway_factory: GatewayFactory, storage: str) -> None:
    gateway = await gateway_factory(storage, gc_interval=0.2, gc_min_age=0.0)
    plant_object(gateway, new_key())
    plant_unfinished(gateway, new_key())

    await wait_for(lambda: not gateway.stored_objects() and not gateway.multipart_uploads())
    await gateway.assert_nothing_stored()
