"""Every credential kind across PUT and GET of the generic routes on a private and
a public project, with GitLab's status code for each cell, and nothing stored on
any refused PUT."""

from __future__ import annotations

import base64
import datetime as dt
import time
from dataclasses import dataclass

import pytest

from gateway.auth import ProxyVerifier
from tests.harness import Gateway, GatewayFactory

PROXY_SECRET = "s" * 48


@dataclass(frozen=True)
class Row:
    credential: str
    private_put: int
    private_get: int
    public_put: int
    public_get: int


MATRIX = [
    Row("none", 401, 401, 401, 200),
    Row("bad", 401, 401, 401, 401),
    Row("personal-api", 201, 200, 201, 200),
    Row("personal-read_api", 403, 200, 403, 200),
    Row("deploy-read", 403, 200, 403, 200),
    Row("deploy-write", 201, 200, 201, 200),
    Row("job-own-project", 201, 200, 201, 200),
    # Outside its project a job token reads what anonymous callers may.
    Row("job-other-project", 404, 404, 403, 200),
    Row("expired", 401, 401, 401, 401),
    Row("revoked", 401, 401, 401, 401),
    Row("proxy-signed", 201, 200, 201, 200),
    Row("proxy-tampered", 401, 401, 401, 401),
    # More of each kind, sent the other ways GitLab accepts.
    Row("personal-basic", 201, 200, 201, 200),
    Row("personal-bearer", 201, 200, 201, 200),
    Row("job-basic", 201, 200, 201, 200),
    Row("deploy-basic", 201, 200, 201, 200),
    Row("bad-basic", 401, 401, 401, 200),
    Row("bad-deploy-token", 401, 401, 401, 200),
    Row("bad-job-token", 401, 401, 401, 401),
    Row("personal-as-job-token", 401, 401, 401, 401),
    Row("job-expired", 401, 401, 401, 401),
    Row("deploy-revoked", 401, 401, 401, 401),
    Row("deploy-other-project", 404, 404, 403, 200),
    Row("personal-non-member", 404, 404, 403, 200),
    # Guests do not download from private projects (GitLab's default); reporters do.
    Row("personal-guest", 403, 403, 403, 200),
    Row("personal-reporter", 403, 200, 403, 200),
    Row("proxy-reporter", 403, 200, 403, 200),
    Row("proxy-no-access", 404, 404, 403, 200),
    Row("proxy-expired", 401, 401, 401, 401),
    Row("proxy-unsigned", 401, 401, 401, 401),
    Row("proxy-other-project", 401, 401, 401, 401),
    # In the query string, and a job or deploy token as the OAuth bearer token.
    Row("personal-private_token-param", 201, 200, 201, 200),
    Row("personal-access_token-param", 201, 200, 201, 200),
    Row("job-job_token-param", 201, 200, 201, 200),
    Row("job-bearer", 201, 200, 201, 200),
    Row("deploy-bearer", 201, 200, 201, 200),
    Row("deploy-read-bearer", 403, 200, 403, 200),
    Row("bad-private_token-param", 401, 401, 401, 401),
    Row("bad-job_token-param", 401, 401, 401, 401),
    Row("bad-access_token-param", 401, 401, 401, 401),
    Row("expired-private_token-param", 401, 401, 401, 401),
]


# Credentials sent as a query parameter: (the header form they are made from, its
# header, the parameter that carries its token instead).
QUERY_FORMS = {
    "personal-private_token-param": ("personal-api", "PRIVATE-TOKEN", "private_token"),
    "personal-access_token-param": ("personal-api", "PRIVATE-TOKEN", "access_token"),
    "job-job_token-param": ("job-own-project", "JOB-TOKEN", "job_token"),
    "bad-private_token-param": ("bad", "PRIVATE-TOKEN", "private_token"),
    "bad-job_token-param": ("bad-job-token", "JOB-TOKEN", "job_token"),
    "bad-access_token-param": ("bad", "PRIVATE-TOKEN", "access_token"),
    "expired-private_token-param": ("expired", "PRIVATE-TOKEN", "private_token"),
}


async def credential_request(gateway: Gateway, project: dict,
                             credential: str) -> tuple[dict[str, str], dict[str, str]]:
    """The headers and query parameters that send `credential` (set up in `project`)."""
    if credential not in QUERY_FORMS:
        return await credential_headers(gateway, project, credential), {}
    made_from, header, param = QUERY_FORMS[credential]
    headers = await credential_headers(gateway, project, made_from)
    return {}, {param: headers.pop(header)}


def basic(password: str, user: str = "anyone") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def credential_headers(gateway: Gateway, project: dict, credential: str) -> dict[str, str]:
    """Set up whatever the credential needs in `project`, and the headers that send it."""
    admin, ref = gateway.admin, project["path"]
    proxy = ProxyVerifier(PROXY_SECRET)
    soon = int(time.time()) + 300

    async def developer() -> str:
        return (await gateway.user("developer", project)).token

    async def revoke_last() -> None:
        async with gateway.pool.acquire() as conn:
            await conn.execute("UPDATE access_tokens SET revoked_at = now() "
                               "WHERE id = (SELECT max(id) FROM access_tokens)")

    match credential:
        case "none":
            return {}
        case "bad":
            return {"PRIVATE-TOKEN": "glpat-unknown"}
        case "bad-basic":
            return basic("glpat-unknown")
        case "bad-deploy-token":
            return {"Deploy-Token": "gldt-unknown"}
        case "bad-job-token":
            return {"JOB-TOKEN": "glcbt-unknown"}
        case "personal-api":
            return {"PRIVATE-TOKEN": await developer()}
        case "personal-basic":
            return basic(await developer())
        case "personal-bearer":
            return {"Authorization": f"Bearer {await developer()}"}
        case "job-bearer":
            job = await gateway.user("developer", project)
            token = await admin.create_job_token(ref, job.username, dt.timedelta(hours=1))
            return {"Authorization": f"Bearer {token}"}
        case "deploy-bearer" | "deploy-read-bearer":
            scopes = ["read_package_registry"] + (["write_package_registry"]
                                                  if credential == "deploy-bearer" else [])
            return {"Authorization": f"Bearer {await admin.create_deploy_token(ref, scopes, None, None)}"}
        case "personal-as-job-token":
            return {"JOB-TOKEN": await developer()}
        case "personal-read_api":
            return (await gateway.user("developer", project, scopes=("read_api",))).headers
        case "personal-guest" | "personal-reporter" | "personal-maintainer":
            return (await gateway.user(credential.removeprefix("personal-"), project)).headers
        case "personal-non-member":
            return (await gateway.user(None, project)).headers
        case "deploy-read":
            return {"Deploy-Token": await admin.create_deploy_token(
                ref, ["read_package_registry"], None, None)}
        case "deploy-write":
            return {"Deploy-Token": await admin.create_deploy_token(
                ref, ["read_package_registry", "write_package_registry"], None, None)}
        case "deploy-basic":
            return basic(await admin.create_deploy_token(ref, ["write_package_registry"], None, None),
                         user="gitlab+deploy-token-1")
        case "deploy-revoked":
            token = await admin.create_deploy_token(ref, ["write_package_registry"], None, None)
            await revoke_last()
            return {"Deploy-Token": token}
        case "deploy-other-project":
            other = await gateway.project()
            return {"Deploy-Token": await admin.create_deploy_token(
                other["path"], ["read_package_registry", "write_package_registry"], None, None)}
        case "job-own-project" | "job-basic" | "job-expired":
            job = await gateway.user("developer", project)
            token = await admin.create_job_token(ref, job.username, dt.timedelta(hours=1))
            if credential == "job-expired":
                async with gateway.pool.acquire() as conn:
                    await conn.execute("UPDATE access_tokens SET expires_at = now() WHERE kind = 'job'")
            if credential == "job-basic":
                return basic(token, user="gitlab-ci-token")
            return {"JOB-TOKEN": token}
        case "job-other-project":
            other = await gateway.project()
            job = await gateway.user("developer", other)
            await admin.add_member(ref, job.username, "developer")  # a member here too: still refused
            token = await admin.create_job_token(other["path"], job.username, dt.timedelta(hours=1))
            return {"JOB-TOKEN": token}
        case "expired":
            identity = await gateway.user("developer", project)
            async with gateway.pool.acquire() as conn:
                await conn.execute("UPDATE access_tokens SET expires_at = now() - interval '1 s'")
            return identity.headers
        case "revoked":
            identity = await gateway.user("developer", project)
            await revoke_last()
            return identity.headers
        case "proxy-signed":
            return {"X-Gateway-Proxy-Auth": proxy.sign(str(project["id"]), "ci-bot", 30, soon)}
        case "proxy-maintainer":
            return {"X-Gateway-Proxy-Auth": proxy.sign(str(project["id"]), "ci-bot", 40, soon)}
        case "proxy-reporter":
            return {"X-Gateway-Proxy-Auth": proxy.sign(ref, "ci-bot", 20, soon)}
        case "proxy-no-access":
            return {"X-Gateway-Proxy-Auth": proxy.sign(ref, "outsider", 0, soon)}
        case "proxy-tampered":
            signed = proxy.sign(str(project["id"]), "ci-bot", 10, soon)
            return {"X-Gateway-Proxy-Auth": signed.replace("level=10", "level=50")}
        case "proxy-expired":
            return {"X-Gateway-Proxy-Auth": proxy.sign(ref, "ci-bot", 30, int(time.time()) - 1)}
        case "proxy-unsigned":
            return {"X-Gateway-Proxy-Auth": f"v1;project={project['id']};actor=ci-bot;level=30;"
                                            f"expires={soon}"}
        case "proxy-other-project":
            other = await gateway.project()
            return {"X-Gateway-Proxy-Auth": proxy.sign(str(other["id"]), "ci-bot", 30, soon)}
    raise AssertionError(credential)


CELLS = [(row, visibility) for row in MATRIX for visibility in ("private", "public")]


@pytest.mark.parametrize(("row", "visibility"), CELLS,
                         ids=[f"{row.credential}-{visibility}" for row, visibility in CELLS])
async def test_matrix(gateway_factory: GatewayFactory, row: Row, visibility: str) -> None:
    gateway = await gateway_factory("fs", trusted_proxy_secret=PROXY_SECRET)
    project = await gateway.project(public=visibility == "public")
    seeder = await gateway.user("maintainer", project)
    assert (await gateway.put(seeder, b"seed", file_name="seed.bin")).status == 201
    headers, params = await credential_request(gateway, project, row.credential)
    expected_put = row.private_put if visibility == "private" else row.public_put
    expected_get = row.private_get if visibility == "private" else row.public_get

    put = await gateway.put(None, b"payload", project=project["id"], file_name="new.bin",
                            headers=headers, params=params)
    assert put.status == expected_put, await put.text()
    if expected_put != 201:
        assert (await put.json()).keys() & {"message", "error"}
        assert await gateway.count("package_files") == 1  # the seed only
        assert len(gateway.stored_objects()) == 1
        assert gateway.multipart_uploads() == []

    get = await gateway.get(None, project=project["id"], file_name="seed.bin", headers=headers,
                            params=params)
    assert get.status == expected_get, await get.text()
    if expected_get == 200:
        assert await get.read() == b"seed"


async def test_proxy_header_is_ignored_when_the_mode_is_off(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")  # no trusted_proxy_secret
    project = await gateway.project(public=True)
    seeder = await gateway.user("maintainer", project)
    await gateway.put(seeder, b"seed", file_name="seed.bin")
    header = {"X-Gateway-Proxy-Auth": ProxyVerifier(PROXY_SECRET).sign(
        str(project["id"]), "ci-bot", 50, int(time.time()) + 60)}
    assert (await gateway.put(None, b"x", project=project["id"], headers=header)).status == 401
    assert (await gateway.get(None, project=project["id"], file_name="seed.bin",
                              headers=header)).status == 200


async def test_proxy_header_cannot_live_long(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs", trusted_proxy_secret=PROXY_SECRET)
    project = await gateway.project()
    header = {"X-Gateway-Proxy-Auth": ProxyVerifier(PROXY_SECRET).sign(
        str(project["id"]), "ci-bot", 50, int(time.time()) + 86400)}
    response = await gateway.put(None, b"x", project=project["id"], headers=header)
    assert response.status == 401
    assert "lives too long" in (await response.json())["message"]
