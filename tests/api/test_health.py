from __future__ import annotations

from tests.harness import Gateway, GatewayFactory


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
