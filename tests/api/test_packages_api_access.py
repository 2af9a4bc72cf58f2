"""Who may do what on the Packages API: every credential kind across its read
routes (list, one package, its files) and its deletes, on a private and a public
project, with GitLab's code for each cell. Deploy tokens are not read here (the
request is anonymous), anonymous callers get 404 on a private project and 403 on
a public project's delete, and only a credential that was sent and is invalid is 401."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.api.test_access_matrix import PROXY_SECRET, credential_headers, credential_request
from tests.harness import GatewayFactory


@dataclass(frozen=True)
class Row:
    credential: str
    private_read: int
    private_delete: int
    public_read: int
    public_delete: int


MATRIX = [
    Row("none", 404, 404, 200, 403),
    Row("bad", 401, 401, 401, 401),
    Row("expired", 401, 401, 401, 401),
    Row("revoked", 401, 401, 401, 401),
    Row("bad-job-token", 401, 401, 401, 401),
    Row("bad-basic", 404, 404, 200, 403),
    Row("personal-api", 200, 403, 200, 403),  # a developer
    Row("personal-read_api", 200, 403, 200, 403),
    Row("personal-guest", 403, 403, 200, 403),
    Row("personal-reporter", 200, 403, 200, 403),
    Row("personal-non-member", 404, 404, 200, 403),
    # Deploy tokens are not read on the Packages API: anonymous, whatever their state.
    Row("deploy-read", 404, 404, 200, 403),
    Row("deploy-write", 404, 404, 200, 403),
    Row("deploy-basic", 404, 404, 200, 403),
    Row("deploy-revoked", 404, 404, 200, 403),
    Row("bad-deploy-token", 404, 404, 200, 403),
    Row("job-own-project", 200, 403, 200, 403),  # its user is a developer
    Row("job-other-project", 404, 404, 200, 403),
    Row("proxy-signed", 200, 403, 200, 403),  # level 30
    Row("proxy-maintainer", 200, 204, 200, 204),
    Row("proxy-other-project", 401, 401, 401, 401),
    Row("personal-maintainer", 200, 204, 200, 204),
    # In the query string, and a job token as the OAuth bearer token.
    Row("personal-private_token-param", 200, 403, 200, 403),
    Row("personal-access_token-param", 200, 403, 200, 403),
    Row("job-job_token-param", 200, 403, 200, 403),
    Row("job-bearer", 200, 403, 200, 403),
    Row("bad-private_token-param", 401, 401, 401, 401),
    Row("bad-job_token-param", 401, 401, 401, 401),
    Row("expired-private_token-param", 401, 401, 401, 401),
    # A deploy token as the bearer token is looked up as a personal one here (GitLab's
    # find_personal_access_token takes the OAuth token too): unknown, so 401.
    Row("deploy-bearer", 401, 401, 401, 401),
]

CELLS = [(row, visibility) for row in MATRIX for visibility in ("private", "public")]


@pytest.mark.parametrize(("row", "visibility"), CELLS,
                         ids=[f"{row.credential}-{visibility}" for row, visibility in CELLS])
async def test_packages_api_matrix(gateway_factory: GatewayFactory, row: Row, visibility: str) -> None:
    gateway = await gateway_factory("fs", trusted_proxy_secret=PROXY_SECRET)
    project = await gateway.project(public=visibility == "public")
    seeder = await gateway.user("maintainer", project)
    for file_name in ("a.bin", "b.bin"):
        assert (await gateway.put(seeder, b"seed", file_name=file_name)).status == 201
    headers, params = await credential_request(gateway, project, row.credential)
    expected_read = row.private_read if visibility == "private" else row.public_read
    expected_delete = row.private_delete if visibility == "private" else row.public_delete

    base = f"/api/v4/projects/{project['id']}/packages"
    async with gateway.pool.acquire() as conn:
        package_id = await conn.fetchval("SELECT id FROM packages")
        file_id = await conn.fetchval("SELECT min(id) FROM package_files")
    for path in (base, f"{base}/{package_id}", f"{base}/{package_id}/package_files"):
        response = await gateway.client.get(path, headers=headers, params=params)
        assert response.status == expected_read, (path, await response.text())
        if expected_read == 404:
            assert await response.json() == {"message": "404 Project Not Found"}

    for path in (f"{base}/{package_id}/package_files/{file_id}", f"{base}/{package_id}"):
        response = await gateway.client.delete(path, headers=headers, params=params)
        assert response.status == expected_delete, (path, await response.text())
    async with gateway.pool.acquire() as conn:
        live = await conn.fetchval("SELECT count(*) FROM packages WHERE status = 'default'")
    assert live == (0 if expected_delete == 204 else 1)


GROUP_CELLS = [
    # credential, what the group list shows of a group with one private and one public project
    ("none", {"public"}),
    ("bad", 401),
    ("deploy-write", {"public"}),  # not read: anonymous
    ("job-other-project", {"public"}),
    ("job-own-project", {"private", "public"}),
    ("personal-guest", {"public"}),
    ("personal-reporter", {"private", "public"}),
]


@pytest.mark.parametrize(("credential", "expected"), GROUP_CELLS, ids=[c for c, _ in GROUP_CELLS])
async def test_group_list_matrix(gateway_factory: GatewayFactory, credential: str,
                                 expected: int | set[str]) -> None:
    gateway = await gateway_factory("fs")
    private = await gateway.project(path="team/private")
    public = await gateway.project(path="team/public", public=True)
    seeder = await gateway.user("maintainer", private)
    await gateway.admin.add_member(public["path"], seeder.username, "maintainer")
    for project in (private, public):
        name = project["path"].split("/")[1]
        assert (await gateway.put(seeder, b"x", project=project["id"], name=name)).status == 201
    headers = await credential_headers(gateway, private, credential)
    response = await gateway.client.get("/api/v4/groups/team/packages", headers=headers)
    if isinstance(expected, int):
        assert response.status == expected
        return
    assert response.status == 200, await response.text()
    assert {p["name"] for p in await response.json()} == expected


async def test_group_list_of_only_private_projects_is_404_for_anonymous(
        gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    await gateway.project(path="hidden/app")
    response = await gateway.client.get("/api/v4/groups/hidden/packages")
    assert response.status == 404
    assert await response.json() == {"message": "404 Group Not Found"}
