"""`/metrics`: what the gateway handled, in Prometheus' text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.harness import Gateway, GatewayFactory

GENERIC_ROUTE = "/api/v4/projects/{id}/packages/generic/{tail}"


async def scrape(gateway: Gateway, headers: dict[str, str] | None = None) -> dict[tuple, float]:
    response = await gateway.client.get("/metrics", headers=headers)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: dict[tuple, float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_bytes_and_calls_are_counted(gateway: Gateway, storage: str) -> None:
    dev = await gateway.developer()
    before = await scrape(gateway)
    body = b"m" * 300_000
    assert (await gateway.put(dev, body)).status == 201
    response = await gateway.get(dev)
    assert await response.read() == body
    assert (await gateway.get(dev, file_name="missing.bin")).status == 404
    after = await scrape(gateway)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("gateway_http_requests_total", method="PUT", route=GENERIC_ROUTE,
                 status="201") == 1
    assert delta("gateway_http_requests_total", method="GET", route=GENERIC_ROUTE,
                 status="200") == 1
    assert delta("gateway_http_requests_total", method="GET", route=GENERIC_ROUTE,
                 status="404") == 1
    assert delta("gateway_http_request_duration_seconds_count", method="PUT",
                 route=GENERIC_ROUTE) == 1
    assert delta("gateway_http_received_bytes_total") == len(body)
    assert delta("gateway_http_sent_bytes_total") >= len(body)
    assert value(after, "gateway_uploads_in_flight") == 0
    assert value(after, "gateway_downloads_in_flight") == 0
    assert delta("gateway_database_call_duration_seconds_count", query="find_generic_download") == 2
    if storage == "s3":
        # A file that fits in one part is one PutObject.
        for operation, count in (("PutObject", 1), ("CreateMultipartUpload", 0),
                                 ("UploadPart", 0), ("GetObject", 1)):
            assert delta("gateway_storage_call_duration_seconds_count", store="s3",
                         operation=operation) == count, operation


async def test_unknown_paths_share_one_label(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    for n in range(3):
        assert (await gateway.client.get(f"/no/such/{n}")).status == 404
    samples = await scrape(gateway)
    routes = {dict(labels).get("route") for name, labels in samples
              if name == "gateway_http_requests_total"}
    assert "unmatched" in routes and not any(r and r.startswith("/no/") for r in routes)


async def test_a_metrics_token_guards_the_endpoint(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs", metrics_token="scrape-secret")
    assert (await gateway.client.get("/metrics")).status == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await gateway.client.get("/metrics", headers=wrong)).status == 401
    samples = await scrape(gateway, {"Authorization": "Bearer scrape-secret"})
    assert any(name == "gateway_http_requests_total" for name, _ in samples)
