"""The README's "Run a pipeline on every push": the example receiver, run as a
process, triggers a (fake) GitLab pipeline for a push; the example CI job script
then downloads the gated file, checks it and verifies it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.events.conftest import FAST_HOOKS
from tests.harness import GatewayFactory, wait_for

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SECRET = "receiver-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def fake_gitlab(aiohttp_server: Any) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """GitLab's pipeline trigger API: records each form it is sent."""
    triggered: list[dict[str, str]] = []

    async def trigger(request: web.Request) -> web.Response:
        triggered.append(dict(await request.post()))  # type: ignore[arg-type]
        return web.json_response({"id": 1000 + len(triggered), "status": "created"}, status=201)

    app = web.Application()
    app.router.add_post("/api/v4/projects/42/trigger/pipeline", trigger)
    server = await aiohttp_server(app, host="127.0.0.1")
    yield str(server.make_url("/api/v4/projects/42/trigger/pipeline")), triggered


@pytest.fixture
async def receiver_url(fake_gitlab: tuple[str, list[dict[str, str]]]) -> AsyncIterator[str]:
    port = free_port()
    env = {**os.environ, "HOOK_SECRET": SECRET, "GITLAB_TRIGGER_URL": fake_gitlab[0],
           "GITLAB_TRIGGER_TOKEN": "glptt-test", "GITLAB_TRIGGER_REF": "release",
           "RECEIVER_HOST": "127.0.0.1", "RECEIVER_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "pipeline_trigger_receiver.py"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"listening" in line, line
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        with contextlib.suppress(ProcessLookupError):
            await asyncio.wait_for(process.wait(), 10)


async def test_receiver_triggers_a_pipeline_that_verifies_the_push(
        gateway_factory: GatewayFactory, fake_gitlab: tuple[str, list[dict[str, str]]],
        receiver_url: str, tmp_path: Path) -> None:
    _, triggered = fake_gitlab
    gateway = await gateway_factory("fs", **FAST_HOOKS)
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    developer = await gateway.user("developer", project)
    base = f"/api/v4/projects/{project['id']}/packages"
    assert (await gateway.client.post(f"{base}/hooks", headers=maintainer.headers,
                                      json={"url": receiver_url, "secret": SECRET})).status == 201
    assert (await gateway.client.put(f"{base}/verification_gate", headers=maintainer.headers,
                                     json={})).status == 200

    content = b"a release archive"
    assert (await gateway.put(developer, content, name="app", version="2.0",
                              file_name="app.tar.gz")).status == 201
    await wait_for(lambda: len(triggered) == 1, timeout=30)
    form = triggered[0]
    assert (form["token"], form["ref"]) == ("glptt-test", "release")
    assert form["variables[PACKAGE_NAME]"] == "app" and form["variables[PACKAGE_GATED]"] == "true"
    assert form["variables[PACKAGE_FILE_SHA256]"] == hashlib.sha256(content).hexdigest()
    assert (await gateway.get(developer, name="app", version="2.0",
                              file_name="app.tar.gz")).status == 404  # waiting

    # The pipeline's job: the example script, with the trigger's variables.
    job_token = await gateway.admin.create_job_token(project["path"], developer.username,
                                                     dt.timedelta(hours=1))
    variables = {key[len("variables["):-1]: value for key, value in form.items()
                 if key.startswith("variables[")}
    job = await asyncio.create_subprocess_exec(
        "sh", str(EXAMPLES / "verify-package.sh"), "test", "-s",
        env={"PATH": os.environ["PATH"], "GATEWAY_URL": gateway.base_url,
             "GATEWAY_JOB_TOKEN": job_token, **variables},
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    output, _ = await job.communicate()
    assert job.returncode == 0, output
    downloaded = await gateway.get(developer, name="app", version="2.0", file_name="app.tar.gz")
    assert downloaded.status == 200 and await downloaded.read() == content
    events = await (await gateway.client.get(f"{base}/events", headers=maintainer.headers)).json()
    assert [e["kind"] for e in events] == ["package_file_verified", "package_file_pushed"]
    assert events[0]["actor"]["kind"] == "job"
    await asyncio.sleep(0.5)
    assert len(triggered) == 1  # the verified event starts no second pipeline


async def test_receiver_refuses_bad_signatures_and_repeats(
        fake_gitlab: tuple[str, list[dict[str, str]]], receiver_url: str) -> None:
    _, triggered = fake_gitlab
    event = {"id": "0b7d5a8e-0000-4000-8000-000000000001", "kind": "package_file_pushed",
             "project": {"id": 1, "path": "g/p"},
             "package": {"id": 2, "name": "app", "version": "1", "package_type": "generic"},
             "package_file": {"id": 3, "file_name": "a.bin", "size": 1, "file_md5": "m",
                              "file_sha1": "s", "file_sha256": "h", "download_url": "/x"},
             "gated": False, "actor": {"kind": "user", "name": "u", "token_id": 1}, "ci": None}
    body = json.dumps(event).encode()
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Gateway-Event": "package_file_pushed", "X-Gateway-Delivery": event["id"],
               "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.post(receiver_url, data=body, headers={
                **headers, "X-Gateway-Signature-256": "sha256=" + "0" * 64}) as response:
            assert response.status == 401
        for expected in (201, 200):  # a repeated delivery id triggers nothing more
            async with session.post(receiver_url, data=body, headers={
                    **headers, "X-Gateway-Signature-256": good}) as response:
                assert response.status == expected
    assert len(triggered) == 1 and triggered[0]["variables[PACKAGE_FILE_ID]"] == "3"
