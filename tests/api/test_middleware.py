"""One canonical JSON log line per request, with the request id bound throughout."""

from __future__ import annotations

import io
import json

from tests.harness import Gateway, wait_for


async def test_one_canonical_line_per_request(gateway: Gateway, log_lines: io.StringIO) -> None:
    dev = await gateway.developer()
    log_lines.truncate(0)
    response = await gateway.put(dev, b"x" * 1000, headers={"X-Request-Id": "req-123"})
    assert response.status == 201
    assert response.headers["X-Request-Id"] == "req-123"
    download = await gateway.get(dev)
    await download.read()

    def requests() -> list[dict]:
        lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.strip()]
        return [line for line in lines if line["event"] == "request"]

    # The download's line is written once its handler has finished streaming.
    await wait_for(lambda: len(requests()) == 2)
    put, get = requests()
    assert put["request_id"] == "req-123"
    assert (put["method"], put["status"], put["bytes_in"], put["parts"]) == ("PUT", 201, 1000, 1)
    assert put["route"] == "/api/v4/projects/{id}/packages/generic/{tail}"
    assert put["actor"] == dev.username and isinstance(put["duration_ms"], float)
    assert (get["method"], get["status"], get["bytes_out"]) == ("GET", 200, 1000)
    assert get["request_id"] != put["request_id"]


async def test_errors_are_logged_with_their_message(gateway: Gateway, log_lines: io.StringIO) -> None:
    await gateway.client.get("/api/v4/projects/1/packages/generic/p/1.0/f")
    line = json.loads(log_lines.getvalue().splitlines()[-1])
    assert line["status"] == 401 and line["error"] == "401 Unauthorized"
