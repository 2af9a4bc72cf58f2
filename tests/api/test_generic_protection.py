"""Package protection rules: pushes below the rule's role are 403 "Package
protected.", deploy tokens never push a protected name, nothing is stored."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from gateway.auth import ProxyVerifier
from tests.harness import GatewayFactory

PROTECTED = {"message": "403 Forbidden - Package protected."}
SECRET = "p" * 40


@pytest.mark.parametrize(("pattern", "minimum", "pusher", "name", "status"), [
    ("mypackage", "maintainer", "developer", "mypackage", 403),
    ("mypackage", "maintainer", "maintainer", "mypackage", 201),
    ("mypackage", "maintainer", "owner", "mypackage", 201),
    ("mypackage", "owner", "maintainer", "mypackage", 403),
    ("mypackage", "owner", "owner", "mypackage", 201),
    ("my*", "maintainer", "developer", "mypackage", 403),
    ("*package", "maintainer", "developer", "mypackage", 403),
    ("MYPACK*", "maintainer", "developer", "mypackage", 403),   # case-insensitive
    ("other-mypackage", "maintainer", "developer", "mypackage", 201),
    ("mypackage", "maintainer", "developer", "mypackage-extra", 201),  # whole-name match
    ("my_package", "maintainer", "developer", "myXpackage", 201),  # `_` is literal
    ("mypackage", "maintainer", "deploy", "mypackage", 403),
    ("mypackage", "maintainer", "job-developer", "mypackage", 403),
    ("mypackage", "maintainer", "job-maintainer", "mypackage", 201),
    ("mypackage", "maintainer", "proxy-maintainer", "mypackage", 201),
    ("mypackage", "maintainer", "proxy-developer", "mypackage", 403),
    ("other", "maintainer", "deploy", "mypackage", 201),
])
async def test_push_protection(gateway_factory: GatewayFactory, pattern: str, minimum: str,
                               pusher: str, name: str, status: int) -> None:
    gateway = await gateway_factory("fs", trusted_proxy_secret=SECRET)
    project = await gateway.project()
    await gateway.admin.add_protection_rule(project["path"], pattern, minimum)
    kind, _, role = pusher.partition("-")
    if kind == "deploy":
        headers = {"Deploy-Token": await gateway.admin.create_deploy_token(
            project["path"], ["write_package_registry"], None, None)}
    elif kind == "job":
        identity = await gateway.user(role, project)
        headers = {"JOB-TOKEN": await gateway.admin.create_job_token(
            project["path"], identity.username, dt.timedelta(hours=1))}
    elif kind == "proxy":
        level = {"developer": 30, "maintainer": 40}[role]
        headers = {"X-Gateway-Proxy-Auth": ProxyVerifier(SECRET).sign(
            project["path"], "bot", level, int(time.time()) + 60)}
    else:
        headers = (await gateway.user(pusher, project)).headers

    response = await gateway.put(None, b"payload", project=project["id"], name=name, headers=headers)
    assert response.status == status, await response.text()
    if status == 403:
        assert await response.json() == PROTECTED
        await gateway.assert_nothing_stored()


async def test_rules_can_be_listed_and_removed(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    rule = await gateway.admin.add_protection_rule(project["path"], "release-*", "owner")
    assert rule["minimum_access_level_for_push"] == "owner"
    assert [r["id"] for r in await gateway.admin.list_protection_rules(project["path"])] == [rule["id"]]
    dev = await gateway.user("maintainer", project)
    assert (await gateway.put(dev, b"x", name="release-app")).status == 403
    await gateway.admin.remove_protection_rule(rule["id"])
    assert await gateway.admin.list_protection_rules(project["path"]) == []
    assert (await gateway.put(dev, b"x", name="release-app")).status == 201
