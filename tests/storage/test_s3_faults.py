"""S3 failing under an upload, through a fault proxy between the gateway and moto:
down for good is a fast, generic 503 and nothing left once S3 is back and the
collector ran; down briefly is retried and the upload succeeds."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gateway.db.intents import UploadIntentRepository
from gateway.errors import StorageError
from gateway.gc import GarbageCollector
from gateway.settings import MiB, Settings
from tests.harness import FaultProxy, Gateway, GatewayFactory, wait_for

GENERIC_503 = {"message": "503 Service Unavailable - object storage is unavailable"}


@pytest.fixture
async def proxy(moto_endpoint: str) -> AsyncIterator[FaultProxy]:
    fault_proxy = FaultProxy.for_url(moto_endpoint)
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.stop()


async def gateway_behind(proxy: FaultProxy, gateway_factory: GatewayFactory,
                         settings_factory: Callable[..., Settings], **s3_changes: Any) -> Gateway:
    s3 = settings_factory("s3").s3
    assert s3 is not None
    s3 = dataclasses.replace(s3, endpoint_url=f"http://127.0.0.1:{proxy.port}", **s3_changes)
    return await gateway_factory("s3", s3=s3)


def upload_body(data: bytes, fault: Callable[[], Any], after: int) -> AsyncIterator[bytes]:
    """`data` in 1 MiB chunks; `fault()` is called once `after` bytes are sent."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MiB):
            if start == after:
                result = fault()
                if asyncio.iscoroutine(result):
                    await result
            yield data[start:start + MiB]

    return chunks()


def assert_generic(body: dict[str, Any], gateway: Gateway) -> None:
    """No endpoint, bucket, key or upload id: those go to the log only."""
    assert body == GENERIC_503
    text = str(body)
    assert "http" not in text and "projects/" not in text
    assert gateway.settings.s3 is not None and gateway.settings.s3.bucket not in text


async def collect_everything(gateway: Gateway) -> None:
    collector = GarbageCollector(gateway.registry.store, UploadIntentRepository(gateway.pool))
    done = await collector.collect(dt.timedelta(0))
    assert done.failed == []


@pytest.mark.parametrize("outage", ["refuse", "stall"])
async def test_s3_down_for_good_mid_upload_is_a_fast_generic_503(
        proxy: FaultProxy, gateway_factory: GatewayFactory,
        settings_factory: Callable[..., Settings], outage: str) -> None:
    """Default timeouts: a refused S3 fails within the retries, a stalled one
    after the read timeout; either way the answer comes well within 30 s."""
    gateway = await gateway_behind(proxy, gateway_factory, settings_factory)
    dev = await gateway.developer()
    down_at = 0.0

    async def go_down() -> None:
        nonlocal down_at
        await wait_for(lambda: bool(gateway.multipart_uploads()))
        await asyncio.sleep(0.5)  # S3's answer is back: parts are being written
        proxy.set_mode(outage)
        down_at = time.monotonic()

    response = await gateway.put(dev, upload_body(os.urandom(16 * MiB), go_down, after=6 * MiB))
    elapsed = time.monotonic() - down_at

    assert response.status == 503
    assert elapsed < 30, elapsed
    assert_generic(await response.json(), gateway)
    await gateway.wait_until_idle()
    # The abort could not reach S3: the intent keeps the upload for the collector.
    assert await gateway.count("upload_intents") == 1
    assert await gateway.count("package_files") == 0

    proxy.set_mode("pass")
    await collect_everything(gateway)
    await gateway.assert_nothing_stored()


async def test_s3_back_within_the_retry_window_the_upload_succeeds(
        proxy: FaultProxy, gateway_factory: GatewayFactory,
        settings_factory: Callable[..., Settings]) -> None:
    """Every connection cut and S3 refusing for a second while parts are written."""
    gateway = await gateway_behind(proxy, gateway_factory, settings_factory)
    dev = await gateway.developer()
    data = os.urandom(16 * MiB)

    async def blip() -> None:
        await wait_for(lambda: bool(gateway.multipart_uploads()))
        await asyncio.sleep(0.5)
        proxy.set_mode("refuse")
        asyncio.get_running_loop().call_later(1.0, proxy.set_mode, "pass")

    response = await gateway.put(dev, upload_body(data, blip, after=6 * MiB))

    assert response.status == 201
    assert await (await gateway.get(dev)).read() == data
    assert await gateway.count("upload_intents") == 0
    assert gateway.multipart_uploads() == []


async def test_cut_s3_answers_to_parts_are_retried(
        proxy: FaultProxy, gateway_factory: GatewayFactory,
        settings_factory: Callable[..., Settings]) -> None:
    """Once the upload is under way, every open connection to S3 is cut and S3's
    answer on the next new one dies on the wire: those part writes are retried."""
    gateway = await gateway_behind(proxy, gateway_factory, settings_factory)
    dev = await gateway.developer()
    data = os.urandom(16 * MiB)

    async def heal() -> None:
        await wait_for(lambda: proxy.cuts >= 1)
        proxy.cut_after = None

    async def cut() -> None:
        await wait_for(lambda: bool(gateway.multipart_uploads()))
        await asyncio.sleep(0.5)
        proxy.cut_after = 1
        proxy.set_mode("refuse")  # pooled connections go: the next ones are new
        proxy.set_mode("pass")
        asyncio.ensure_future(heal())

    response = await gateway.put(dev, upload_body(data, cut, after=6 * MiB))

    assert proxy.cuts >= 1
    assert response.status == 201
    assert await (await gateway.get(dev)).read() == data
    await gateway.wait_until_idle()
    assert gateway.multipart_uploads() == []
    assert await gateway.count("upload_intents") == 0


async def test_lost_answer_to_starting_an_upload_is_not_retried(
        proxy: FaultProxy, gateway_factory: GatewayFactory,
        settings_factory: Callable[..., Settings]) -> None:
    """Starting a multipart upload is not idempotent: when S3's answer is lost the
    upload fails (503) rather than leave a second upload behind, and its intent
    lets the collector abort the one S3 made."""
    gateway = await gateway_behind(proxy, gateway_factory, settings_factory)
    dev = await gateway.developer()
    proxy.set_mode("refuse")  # drop pooled connections: the next one opened is cut
    proxy.set_mode("pass")
    proxy.cut_after = 1

    # Longer than one part (5 MiB): a multipart upload, not a single PutObject.
    response = await gateway.put(dev, os.urandom(6 * MiB))
    proxy.cut_after = None

    assert response.status == 503
    assert_generic(await response.json(), gateway)
    assert len(gateway.multipart_uploads()) == 1
    assert await gateway.count("upload_intents") == 1
    await collect_everything(gateway)
    await gateway.assert_nothing_stored()


async def test_s3_down_on_download_is_a_generic_503(
        proxy: FaultProxy, gateway_factory: GatewayFactory,
        settings_factory: Callable[..., Settings]) -> None:
    gateway = await gateway_behind(proxy, gateway_factory, settings_factory, read_timeout=2.0)
    dev = await gateway.developer()
    assert (await gateway.put(dev, os.urandom(1 * MiB))).status == 201
    proxy.set_mode("refuse")
    started = time.monotonic()

    response = await gateway.get(dev)

    assert response.status == 503
    assert time.monotonic() - started < 30
    assert_generic(await response.json(), gateway)


async def test_collection_stops_while_s3_is_down_and_finishes_after(
        proxy: FaultProxy, gateway_factory: GatewayFactory,
        settings_factory: Callable[..., Settings]) -> None:
    gateway = await gateway_behind(proxy, gateway_factory, settings_factory)
    keys = [f"projects/1/{os.urandom(16).hex()}" for _ in range(5)]
    for key in keys:
        await gateway.registry.intents.record(key, "s3")
    collector = GarbageCollector(gateway.registry.store, UploadIntentRepository(gateway.pool))
    proxy.set_mode("refuse")
    started = time.monotonic()

    with pytest.raises(StorageError):
        await collector.collect(dt.timedelta(0))

    assert time.monotonic() - started < 30
    assert await gateway.count("upload_intents") == len(keys)  # kept for the next time
    proxy.set_mode("pass")
    done = await collector.collect(dt.timedelta(0))
    assert sorted(done.stale_intents) == sorted(keys)
    await gateway.assert_nothing_stored()
