"""Who may upload and download, with GitLab's status codes (personal access tokens).

Rows follow GitLab's own request specs for the generic packages API.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest

from tests.harness import Gateway, GatewayFactory, Identity


@dataclass(frozen=True)
class Case:
    visibility: str  # "public" or "private"
    who: str  # how the caller is set up, see `caller`
    send: str  # how the credential is sent: token, bearer, basic, none, bad-token, ...
    put: int
    get: int


CASES = [
    Case("private", "developer", "token", 201, 200),
    Case("private", "developer", "bearer", 201, 200),
    Case("private", "developer", "basic", 201, 200),
    Case("private", "maintainer", "token", 201, 200),
    Case("private", "owner", "token", 201, 200),
    Case("private", "reporter", "token", 403, 200),
    Case("private", "guest", "token", 403, 403),  # GitLab's default: guests do not pull
    Case("private", "developer-read_api", "token", 403, 200),
    Case("private", "non-member", "token", 404, 404),
    Case("private", "non-member", "basic", 404, 404),
    Case("private", "anonymous", "none", 401, 401),
    Case("private", "anonymous", "bad-token", 401, 401),
    Case("private", "anonymous", "bad-bearer", 401, 401),
    Case("private", "anonymous", "bad-basic", 401, 401),
    Case("private", "developer-expired", "token", 401, 401),
    Case("private", "developer-revoked", "token", 401, 401),
    Case("public", "developer", "token", 201, 200),
    Case("public", "guest", "token", 403, 200),
    Case("public", "developer-read_api", "token", 403, 200),
    Case("public", "non-member", "token", 403, 200),
    Case("public", "non-member", "basic", 403, 200),
    Case("public", "anonymous", "none", 401, 200),
    Case("public", "anonymous", "bad-token", 401, 401),
    Case("public", "anonymous", "bad-basic", 401, 200),  # a stale Basic password is ignored
    Case("public", "developer-expired", "basic", 401, 401),
]


def headers_for(identity: Identity | None, send: str) -> dict[str, str]:
    def basic(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"ci:{password}".encode()).decode()}

    if send == "none":
        return {}
    if send == "bad-token":
        return {"PRIVATE-TOKEN": "glpat-not-a-real-token"}
    if send == "bad-bearer":
        return {"Authorization": "Bearer glpat-not-a-real-token"}
    if send == "bad-basic":
        return basic("glpat-not-a-real-token")
    assert identity is not None
    if send == "token":
        return {"PRIVATE-TOKEN": identity.token}
    if send == "bearer":
        return {"Authorization": f"Bearer {identity.token}"}
    if send == "basic":
        return basic(identity.token)
    raise AssertionError(send)


async def caller(gateway: Gateway, project: dict, who: str) -> Identity | None:
    if who == "anonymous":
        return None
    role, _, variant = who.partition("-")
    scopes = ("read_api",) if variant == "read_api" else ("api",)
    identity = await gateway.user(None if role == "non" else role, project, scopes=scopes)
    if variant in {"expired", "revoked"}:
        column = "revoked_at = now()" if variant == "revoked" else "expires_at = now()"
        async with gateway.pool.acquire() as conn:
            await conn.execute(f"UPDATE access_tokens SET {column}")
    return identity


@pytest.mark.parametrize("case", CASES, ids=[f"{c.visibility}-{c.who}-{c.send}" for c in CASES])
async def test_credentials_and_roles(gateway_factory: GatewayFactory, case: Case) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project(public=case.visibility == "public")
    owner = await gateway.user("maintainer", project)
    assert (await gateway.put(owner, b"seed", file_name="seed.bin")).status == 201
    identity = await caller(gateway, project, case.who)
    headers = headers_for(identity, case.send)

    put = await gateway.put(None, b"payload", project=project["id"], file_name="new.bin",
                            headers=headers)
    assert put.status == case.put, await put.text()
    if case.put != 201:
        async with gateway.pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT count(*) FROM package_files WHERE file_name = 'new.bin'") == 0
        assert len(gateway.stored_objects()) == 1  # only the seed

    get = await gateway.get(None, project=project["id"], file_name="seed.bin", headers=headers)
    assert get.status == case.get, await get.text()
    if case.get == 200:
        assert await get.read() == b"seed"


async def test_error_bodies(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()

    anonymous = await gateway.put(None, b"x", project=project["id"])
    assert await anonymous.json() == {"message": "401 Unauthorized"}
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="GitLab Packages Registry"'

    reader = await gateway.user("developer", project, scopes=("read_api",))
    scoped = await gateway.put(reader, b"x")
    assert scoped.status == 403
    assert (await scoped.json())["error"] == "insufficient_scope"

    stranger = await gateway.user(None, project)
    hidden = await gateway.get(stranger)
    assert await hidden.json() == {"message": "404 Not Found"}  # GitLab's generic routes

    guest = await gateway.user("guest", project)
    assert await (await gateway.put(guest, b"x")).json() == {"message": "403 Forbidden"}

    missing = await gateway.get(stranger, project=987654)
    assert missing.status == 404
    assert await missing.json() == {"message": "404 Not Found"}
    assert (await gateway.get(None, project=987654)).status == 401

    async with gateway.pool.acquire() as conn:
        await conn.execute("UPDATE access_tokens SET revoked_at = now()")
    revoked = await gateway.get(guest)
    assert revoked.status == 401
    assert (await revoked.json())["error"] == "invalid_token"


async def test_tokens_are_stored_only_as_digests(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    async with gateway.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM access_tokens")
    assert len(rows) == 1
    assert all(dev.token not in str(value) and dev.token.encode() != value
               for value in dict(rows[0]).values())
