from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import pytest

from gateway.embedded import EmbeddedPostgres
from gateway.settings import S3Settings
from tests.conftest import MOTO_CREDENTIALS
from tests.harness import FaultProxy, Gateway, GatewayFactory


async def test_liveness_probes_touch_nothing(gateway: Gateway) -> None:
    for path in ("/-/health", "/-/liveness"):
        response = await gateway.client.get(path)
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_readiness_checks_database_and_storage(gateway: Gateway) -> None:
    response = await gateway.client.get("/-/readiness")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "storage": "ok"}


async def test_readiness_reports_a_broken_store(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("s3")
    gateway.s3_admin.delete_bucket(Bucket=gateway.settings.s3.bucket)
    try:
        response = await gateway.client.get("/-/readiness")
        assert response.status == 503
        assert await response.json() == {"status": "error", "database": "ok",
                                         "storage": "unavailable"}
        assert (await gateway.client.get("/-/health")).status == 200
    finally:
        gateway.s3_admin.create_bucket(Bucket=gateway.settings.s3.bucket)  # for the fixture's cleanup


async def probe(gateway: Gateway, path: str) -> tuple[int, dict[str, str], float]:
    began = time.monotonic()
    response = await gateway.client.get(path)
    return response.status, await response.json(), time.monotonic() - began


async def test_stalled_storage_makes_readiness_fail_fast(
        gateway_factory: GatewayFactory, moto_endpoint: str, s3_bucket: str) -> None:
    proxy = FaultProxy.for_url(moto_endpoint)
    endpoint = await proxy.start()
    try:
        gateway = await gateway_factory("s3", s3=S3Settings(
            bucket=s3_bucket, endpoint_url=endpoint, region="us-east-1",
            access_key_id=MOTO_CREDENTIALS["aws_access_key_id"],
            secret_access_key=MOTO_CREDENTIALS["aws_secret_access_key"]))
        proxy.set_mode("stall")
        status, body, took = await probe(gateway, "/-/health")
        assert (status, body) == (200, {"status": "ok"}) and took < 1
        status, body, took = await probe(gateway, "/-/readiness")
        assert (status, body) == (503, {"status": "error", "database": "ok", "storage": "timeout"})
        assert took < 3
        assert endpoint not in json.dumps(body)
        proxy.set_mode("pass")
        assert (await probe(gateway, "/-/readiness"))[0] == 200
    finally:
        proxy.set_mode("pass")
        await proxy.stop()


@pytest.mark.parametrize("fault", ["stall", "refuse"])
async def test_database_down_makes_readiness_fail_fast(
        gateway_factory: GatewayFactory, postgres: EmbeddedPostgres, database_url: str,
        fault: str) -> None:
    server = postgres.server
    proxy = FaultProxy.for_unix_socket(str(server.socket_dir / f".s.PGSQL.{server.port}"))
    await proxy.start()
    database = urlsplit(database_url).path.lstrip("/")
    try:
        gateway = await gateway_factory("fs", database_url=(
            f"postgresql://postgres:{server.password}@127.0.0.1:{proxy.port}/{database}"))
        assert (await probe(gateway, "/-/readiness"))[0] == 200
        proxy.set_mode(fault)
        status, body, took = await probe(gateway, "/-/health")
        assert (status, body) == (200, {"status": "ok"}) and took < 1
        status, body, took = await probe(gateway, "/-/readiness")
        failed = "timeout" if fault == "stall" else "unavailable"
        assert (status, body) == (503, {"status": "error", "database": failed, "storage": "ok"})
        assert took < 3
        proxy.set_mode("pass")
        assert (await probe(gateway, "/-/readiness"))[0] == 200
    finally:
        proxy.set_mode("pass")
        await proxy.stop()
