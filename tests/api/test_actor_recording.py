"""Every upload records who acted: the kind of actor, the user and the token."""

from __future__ import annotations

import datetime as dt
import time

from gateway.auth import ProxyVerifier
from tests.harness import GatewayFactory

SECRET = "r" * 40


async def test_each_credential_kind_is_recorded(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs", trusted_proxy_secret=SECRET)
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    deploy = await gateway.admin.create_deploy_token(project["path"], ["write_package_registry"],
                                                     "ci-deploy", None)
    job = await gateway.admin.create_job_token(project["path"], dev.username, dt.timedelta(hours=1))
    proxy = ProxyVerifier(SECRET).sign(project["path"], "alice@example.com", 30,
                                       int(time.time()) + 60)
    for file_name, headers in [("by-user", dev.headers), ("by-deploy", {"Deploy-Token": deploy}),
                               ("by-job", {"JOB-TOKEN": job}),
                               ("by-proxy", {"X-Gateway-Proxy-Auth": proxy})]:
        response = await gateway.put(None, b"x", project=project["id"], file_name=file_name,
                                     headers=headers)
        assert response.status == 201, await response.text()

    async with gateway.pool.acquire() as conn:
        rows = {r["file_name"]: dict(r) for r in await conn.fetch(
            "SELECT f.file_name, f.actor_kind, f.actor_user_id, f.actor_name, t.kind AS token_kind "
            "FROM package_files f LEFT JOIN access_tokens t ON t.id = f.actor_token_id")}
        dev_id = await conn.fetchval("SELECT id FROM users WHERE username = $1", dev.username)
    assert rows["by-user"] == {"file_name": "by-user", "actor_kind": "user", "actor_user_id": dev_id,
                               "actor_name": dev.username, "token_kind": "personal"}
    assert rows["by-deploy"]["actor_kind"] == "deploy_token"
    assert rows["by-deploy"]["token_kind"] == "deploy"
    assert rows["by-deploy"]["actor_user_id"] is None
    assert rows["by-deploy"]["actor_name"].startswith("gitlab+deploy-token-")
    assert rows["by-job"] == {"file_name": "by-job", "actor_kind": "job", "actor_user_id": dev_id,
                              "actor_name": dev.username, "token_kind": "job"}
    assert rows["by-proxy"] == {"file_name": "by-proxy", "actor_kind": "proxy",
                                "actor_user_id": None, "actor_name": "alice@example.com",
                                "token_kind": None}
