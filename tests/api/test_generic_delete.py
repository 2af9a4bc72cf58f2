"""`DELETE /projects/:id/packages/generic/:name/:version/(path/):file_name`:
every live file of that name in the package goes; 404 when there is none."""

from __future__ import annotations

import pytest

from tests.api.test_access_matrix import credential_headers
from tests.harness import Gateway, GatewayFactory, wait_for


async def live_files(gateway: Gateway) -> list[str]:
    async with gateway.pool.acquire() as conn:
        rows = await conn.fetch("SELECT file_name FROM package_files WHERE status = 'default' "
                                "ORDER BY id")
    return [row["file_name"] for row in rows]


async def test_deletes_every_file_of_that_name(gateway: Gateway) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    for data in (b"one", b"two"):  # duplicates are allowed by default: two files, one name
        assert (await gateway.put(maintainer, data, file_name="tool.bin")).status == 201
    assert (await gateway.put(maintainer, b"keep", file_name="other.bin")).status == 201
    directory = gateway.package_path(project["id"], "pkg", "1.0.0", "dir/tool.bin")
    assert (await gateway.put(maintainer, b"deep", path=directory)).status == 201

    url = gateway.package_path(project["id"], "pkg", "1.0.0", "tool.bin")
    response = await gateway.client.delete(url, headers=maintainer.headers)
    assert response.status == 204
    assert await live_files(gateway) == ["other.bin", "dir%2Ftool.bin"]
    assert (await gateway.get(maintainer, file_name="tool.bin")).status == 404
    again = await gateway.client.delete(url, headers=maintainer.headers)
    assert again.status == 404
    assert await again.json() == {"message": "404 Not found"}

    assert (await gateway.client.delete(directory, headers=maintainer.headers)).status == 204
    assert await live_files(gateway) == ["other.bin"]
    # The destroyer removes the objects in the background; the package stays.
    await wait_for(lambda: len(gateway.stored_objects()) == 1)
    assert await gateway.count("packages") == 1


async def test_missing_package_is_404(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    maintainer = await gateway.user("maintainer", await gateway.project())
    url = gateway.package_path(maintainer.project_id, "absent", "1.0.0", "f.bin")
    response = await gateway.client.delete(url, headers=maintainer.headers)
    assert response.status == 404
    assert await response.json() == {"message": "404 Not found"}


@pytest.mark.parametrize(("credential", "status"), [
    ("personal-maintainer", 204),
    ("personal-api", 403),  # a developer
    ("personal-read_api", 403),
    ("deploy-write", 204),  # the generic routes read deploy tokens
    ("deploy-read", 403),
    ("none", 401),
    ("personal-non-member", 404),
])
async def test_who_may_delete(gateway_factory: GatewayFactory, credential: str, status: int) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    assert (await gateway.put(maintainer, b"x")).status == 201
    headers = await credential_headers(gateway, project, credential)
    response = await gateway.client.delete(gateway.package_path(project["id"], "pkg", "1.0.0",
                                                                "file.bin"), headers=headers)
    assert response.status == status, await response.text()
    assert await live_files(gateway) == ([] if status == 204 else ["file.bin"])


async def test_bad_names_are_400(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    maintainer = await gateway.user("maintainer", await gateway.project())
    response = await gateway.client.delete(
        f"/api/v4/projects/{maintainer.project_id}/packages/generic/pkg/..1.0/f.bin",
        headers=maintainer.headers)
    assert response.status == 400
    assert await response.json() == {"error": "package_version is invalid"}
