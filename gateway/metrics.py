"""Prometheus metrics (prometheus-client), one definition each, read at `/metrics`.

The metric objects live at module level, as prometheus-client intends. With
`serve --workers N` every worker writes its values to files in the folder that
prometheus-client's multiprocess mode names (`PROMETHEUS_MULTIPROC_DIR`, set by the
supervising parent before the workers start), and `/metrics` in any worker adds all
of them up; gauges of things in flight are summed over the live workers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
    multiprocess, values,
)

# Requests: long uploads and downloads reach minutes, so the buckets do too.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("gateway_http_requests", "HTTP requests answered",
                   ["method", "route", "status"])
REQUEST_DURATION = Histogram("gateway_http_request_duration_seconds",
                             "Time from request to the end of its answer",
                             ["method", "route"], buckets=REQUEST_BUCKETS)
BYTES_RECEIVED = Counter("gateway_http_received_bytes", "Package file bytes stored from uploads")
BYTES_SENT = Counter("gateway_http_sent_bytes", "Response body bytes sent")
UPLOADS_IN_FLIGHT = Gauge("gateway_uploads_in_flight", "Uploads being received",
                          multiprocess_mode="livesum")
DOWNLOADS_IN_FLIGHT = Gauge("gateway_downloads_in_flight", "Downloads being sent",
                            multiprocess_mode="livesum")
PARTS_IN_FLIGHT = Gauge("gateway_upload_parts_in_flight", "Upload parts being written to storage",
                        multiprocess_mode="livesum")
UPLOAD_BUFFER_IN_USE = Gauge("gateway_upload_buffer_bytes_in_use",
                             "Bytes of the upload buffer budget held by uploads",
                             multiprocess_mode="livesum")
STORAGE_CALL_DURATION = Histogram("gateway_storage_call_duration_seconds",
                                  "Object storage calls by operation",
                                  ["store", "operation"], buckets=CALL_BUCKETS)
STORAGE_CALL_ERRORS = Counter("gateway_storage_call_errors", "Object storage calls that failed",
                              ["store", "operation"])
DATABASE_CALL_DURATION = Histogram("gateway_database_call_duration_seconds",
                                   "PostgreSQL statements by query name",
                                   ["query"], buckets=CALL_BUCKETS)
DATABASE_CALL_ERRORS = Counter("gateway_database_call_errors", "PostgreSQL statements that failed",
                               ["query"])
GC_REMOVED = Counter("gateway_gc_removed", "What the garbage collector removed", ["kind"])
DESTROYED_FILES = Counter("gateway_destroyer_files", "Package files the destroyer handled",
                          ["result"])
WEBHOOK_DELIVERIES = Counter("gateway_webhook_deliveries", "Webhook delivery attempts",
                             ["result"])


@contextmanager
def timed(histogram: Histogram, errors: Counter, *labels: str) -> Iterator[None]:
    """Observe how long the block took; count it as an error if it raised."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        errors.labels(*labels).inc()
        raise
    finally:
        histogram.labels(*labels).observe(time.perf_counter() - started)


class track:  # noqa: N801 - used like a function: `with track(GAUGE):`
    """Count the block as in flight while it runs; `with` or `async with`."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(self, *_: object) -> None:
        self._gauge.dec()

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *_: object) -> None:
        self.__exit__()


def exposition() -> tuple[bytes, str]:
    """The text format, from every worker's files when there are several."""
    if values.ValueClass is not values.MutexValue:  # multiprocess mode
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def instrument_s3_client(client: object, store: str = "s3") -> None:
    """Time every S3 call by operation, through botocore's event hooks, so calls
    added later are measured too."""
    events = client.meta.events  # type: ignore[attr-defined]

    def before(context: dict, model: object, **_: object) -> None:
        context["metrics_started"] = (model.name, time.perf_counter())  # type: ignore[attr-defined]

    def finish(context: dict, failed: bool) -> None:
        operation, started = context.pop("metrics_started", (None, 0.0))
        if operation is None:
            return
        STORAGE_CALL_DURATION.labels(store, operation).observe(time.perf_counter() - started)
        if failed:
            STORAGE_CALL_ERRORS.labels(store, operation).inc()

    def after(context: dict, http_response: object, **_: object) -> None:
        finish(context, getattr(http_response, "status_code", 200) >= 400)

    def after_error(context: dict, **_: object) -> None:
        finish(context, True)

    events.register("before-call.s3", before)
    events.register("after-call.s3", after)
    events.register("after-call-error.s3", after_error)


def count_request(method: str, route: str | None, status: int, duration: float, *,
                  bytes_in: int = 0, bytes_out: int = 0) -> None:
    # Unmatched paths share one label: a scan of random URLs must not grow the series.
    route = route or "unmatched"
    REQUESTS.labels(method, route, str(status)).inc()
    REQUEST_DURATION.labels(method, route).observe(duration)
    if bytes_in:
        BYTES_RECEIVED.inc(bytes_in)
    if bytes_out:
        BYTES_SENT.inc(bytes_out)
