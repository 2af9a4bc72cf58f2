"""Credentials in the query string and several credentials in one request.

Query tokens are secrets like header tokens: never in a log line, an error body or
a metric label. Which credential acts when several are sent follows GitLab's order
(APIGuard#find_user_from_sources; tests/test_auth.py has it in detail)."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import structlog

from tests.harness import Gateway, GatewayFactory, wait_for


def request_lines(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line["event"] == "request"]


async def test_query_tokens_are_in_no_log_line_error_body_or_metric(
        gateway_factory: GatewayFactory, log_lines: io.StringIO) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project(path="demo/app")
    dev = await gateway.user("developer", project)
    job = await gateway.admin.create_job_token("demo/app", dev.username, dt.timedelta(hours=1))
    unknown = "glpat-never-logged-unknown"
    packages = "/api/v4/projects/demo%2Fapp/packages"
    requests = [
        ("PUT", None, {"job_token": job}, 201),
        ("GET", None, {"private_token": dev.token}, 200),
        ("GET", None, {"access_token": dev.token}, 200),
        ("GET", None, {"private_token": unknown}, 401),
        ("GET", None, {"job_token": unknown}, 401),
        ("GET", packages, {"private_token": dev.token}, 200),
        ("GET", packages, {"access_token": unknown}, 401),
        # A bad parameter beside a good token: the 400 names the parameter, not the token.
        ("GET", packages, {"private_token": dev.token, "order_by": "bogus"}, 400),
        ("GET", f"{packages}/999999", {"private_token": dev.token}, 404),
    ]
    bodies = []
    for method, path, params, status in requests:
        if method == "PUT":
            response = await gateway.put(None, b"data", project=project["id"], file_name="f.txt",
                                         params=params)
        else:
            response = await gateway.get(None, project=project["id"], file_name="f.txt",
                                         path=path, params=params)
        bodies.append(await response.text())
        assert response.status == status, (params, bodies[-1])
    await wait_for(lambda: len(request_lines(log_lines)) >= len(requests))
    metrics = await (await gateway.client.get("/metrics")).text()

    secrets = [dev.token, job, unknown]
    for text in [log_lines.getvalue(), metrics, *bodies]:
        assert not any(secret in text for secret in secrets), text
    paths = [line["path"] for line in request_lines(log_lines)]
    assert all("?" not in path and "token" not in path for path in paths), paths


async def test_tracebacks_are_logged_without_local_variables(log_lines: io.StringIO) -> None:
    def fails(private_token: str) -> None:
        raise RuntimeError("boom")

    try:
        fails("glpat-held-in-a-local")
    except RuntimeError:
        structlog.get_logger("test").exception("unhandled_error")
    assert "boom" in log_lines.getvalue()
    assert "glpat-held-in-a-local" not in log_lines.getvalue()


@pytest.mark.parametrize(("sent", "expected"), [
    # The personal token (query, then header) is looked at before the job token: a
    # valid one acts and the job token is not read; an unknown one is 401.
    ({"params": {"private_token": "DEV"}, "headers": {"JOB-TOKEN": "glcbt-unknown"}}, 201),
    ({"params": {"private_token": "glpat-unknown"}, "headers": {"JOB-TOKEN": "JOB"}}, 401),
    ({"params": {"job_token": "JOB"}, "headers": {"PRIVATE-TOKEN": "glpat-unknown"}}, 401),
    # `private_token` is read before `PRIVATE-TOKEN`; a blank one is not there.
    ({"params": {"private_token": "DEV"}, "headers": {"PRIVATE-TOKEN": "glpat-unknown"}}, 201),
    ({"params": {"private_token": "glpat-unknown"}, "headers": {"PRIVATE-TOKEN": "DEV"}}, 401),
    ({"params": {"private_token": " "}, "headers": {"PRIVATE-TOKEN": "DEV"}}, 201),
    # `access_token` before `Authorization: Bearer`.
    ({"params": {"access_token": "DEV"}, "headers": {"Authorization": "Bearer glpat-x"}}, 201),
    ({"params": {"access_token": "glpat-x"}, "headers": {"Authorization": "Bearer DEV"}}, 401),
])
async def test_two_credentials_follow_gitlabs_order(gateway_factory: GatewayFactory,
                                                    sent: dict, expected: int) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    job = await gateway.admin.create_job_token(project["path"], dev.username, dt.timedelta(hours=1))

    secrets = {"DEV": dev.token, "JOB": job}

    def fill(values: dict[str, str]) -> dict[str, str]:
        """`DEV` and `JOB` stand for the developer's and the job's tokens."""
        return {key: " ".join(secrets.get(word, word) for word in value.split(" "))
                if value.strip() else value for key, value in values.items()}

    response = await gateway.put(None, b"x", project=project["id"], headers=fill(sent["headers"]),
                                 params=fill(sent["params"]))
    assert response.status == expected, await response.text()
    if expected != 201:
        await gateway.assert_nothing_stored()

async def test_which_actor_acts_when_two_valid_credentials_are_sent(
        gateway_factory: GatewayFactory, log_lines: io.StringIO) -> None:
    """On the generic routes a deploy token is read first; on the Packages API it is
    not read, so the personal token acts; a personal token acts before a job token."""
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    job = await gateway.admin.create_job_token(project["path"], dev.username, dt.timedelta(hours=1))
    deploy = await gateway.admin.create_deploy_token(
        project["path"], ["read_package_registry", "write_package_registry"], None, None)
    assert (await gateway.put(dev, b"x", project=project["id"])).status == 201

    both = {"Deploy-Token": deploy, "PRIVATE-TOKEN": dev.token}
    assert (await gateway.get(None, project=project["id"], headers=both)).status == 200
    listing = f"/api/v4/projects/{project['id']}/packages"
    assert (await gateway.get(None, path=listing, headers=both)).status == 200
    assert (await gateway.get(None, project=project["id"], headers={"JOB-TOKEN": job},
                              params={"private_token": dev.token})).status == 200
    await wait_for(lambda: len(request_lines(log_lines)) >= 4)
    kinds = [line.get("actor_kind") for line in request_lines(log_lines)[-3:]]
    assert kinds == ["deploy", "user", "user"]
