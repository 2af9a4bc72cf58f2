from __future__ import annotations

from tests.harness import Gateway, GatewayFactory


async def test_health_checks_database_and_storage(gateway: Gateway) -> None:
    response = await gateway.client.get("/-/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "storage": "ok"}


async def test_health_reports_a_broken_store(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("s3")
    gateway.s3_admin.delete_bucket(Bucket=gateway.settings.s3.bucket)
    response = await gateway.client.get("/-/health")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "error" and body["database"] == "ok"
    assert "not usable" in body["storage"]
    gateway.s3_admin.create_bucket(Bucket=gateway.settings.s3.bucket)  # for the fixture's cleanup
