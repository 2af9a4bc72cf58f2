"""The Packages API: python-gitlab's project.packages, group.packages and
package.package_files against the gateway, and GitLab's pagination by hand."""

from __future__ import annotations

import asyncio
from typing import Any

import gitlab
import pytest

from tests.harness import Gateway, GatewayFactory, Identity, wait_for


async def publish(gateway: Gateway, who: Identity, packages: dict[str, list[str]],
                  files: tuple[str, ...] = ("a.bin",)) -> None:
    """Packages named `name` with the given versions, each with `files`."""
    for name, versions in packages.items():
        for version in versions:
            for file_name in files:
                response = await gateway.put(who, f"{name}-{version}-{file_name}".encode(), name=name,
                                             version=version, file_name=file_name)
                assert response.status == 201, await response.text()


def client(gateway: Gateway, who: Identity | None) -> gitlab.Gitlab:
    return gitlab.Gitlab(gateway.base_url, private_token=who.token if who else None)


async def test_python_gitlab_lists_filters_and_sorts(gateway: Gateway) -> None:
    dev = await gateway.developer()
    await publish(gateway, dev, {"alpha": ["1.0.0", "2.0.0"], "beta-tool": ["1.0.0"],
                                 "gamma": ["0.9.0"]})

    def use() -> None:
        project = client(gateway, dev).projects.get(dev.project_path, lazy=True)
        everything = project.packages.list(get_all=True)
        assert [(p.name, p.version) for p in everything] == [
            ("alpha", "1.0.0"), ("alpha", "2.0.0"), ("beta-tool", "1.0.0"), ("gamma", "0.9.0")]
        assert {p.package_type for p in everything} == {"generic"}

        by_name = project.packages.list(get_all=True, package_name="ALP")  # substring, any case
        assert [p.version for p in by_name] == ["1.0.0", "2.0.0"]
        assert [p.name for p in project.packages.list(get_all=True, package_name="tool")] == ["beta-tool"]
        assert [p.name for p in project.packages.list(get_all=True, package_version="1.0.0",
                                                     order_by="name", sort="desc")] == ["beta-tool", "alpha"]
        assert [p.version for p in project.packages.list(get_all=True, order_by="version",
                                                         sort="desc")] == ["2.0.0", "1.0.0", "1.0.0", "0.9.0"]
        newest_first = project.packages.list(get_all=True, sort="desc")
        assert [(p.name, p.version) for p in newest_first] == list(reversed(
            [(p.name, p.version) for p in everything]))
        assert len(project.packages.list(get_all=True, package_type="generic")) == 4
        assert project.packages.list(get_all=True, package_type="npm") == []

        # get_all follows the Link headers across pages.
        assert len(project.packages.list(get_all=True, per_page=1)) == 4
        assert len(project.packages.list(per_page=3, page=2)) == 1

        single = project.packages.get(everything[0].id)
        assert single.name == "alpha"
        assert [v["version"] for v in single.versions] == ["2.0.0"]
        assert single._links["web_path"] == f"/{dev.project_path}/-/packages/{single.id}"

    await asyncio.to_thread(use)


async def test_python_gitlab_files_and_deletes(gateway: Gateway) -> None:
    project_row = await gateway.project()
    maintainer = await gateway.user("maintainer", project_row)
    await publish(gateway, maintainer, {"tool": ["1.0.0", "2.0.0"]}, files=("b.bin", "a.bin", "c.bin"))

    def use() -> tuple[int, int]:
        project = client(gateway, maintainer).projects.get(maintainer.project_id, lazy=True)
        first, second = project.packages.list(get_all=True)
        files = first.package_files.list(get_all=True)
        assert [f.file_name for f in files] == ["b.bin", "a.bin", "c.bin"]  # by id
        assert [f.file_name for f in first.package_files.list(
            get_all=True, order_by="file_name", sort="desc")] == ["c.bin", "b.bin", "a.bin"]
        assert files[0].size == len(b"tool-1.0.0-b.bin") and len(files[0].file_sha256) == 64

        files[0].delete()  # one file
        assert [f.file_name for f in first.package_files.list(get_all=True)] == ["a.bin", "c.bin"]
        second.delete()  # a whole package
        assert [p.version for p in project.packages.list(get_all=True)] == ["1.0.0"]
        with pytest.raises(gitlab.exceptions.GitlabGetError):
            project.packages.get(second.id)
        return files[0].id, second.id

    deleted_file, deleted_package = await asyncio.to_thread(use)
    assert (await gateway.get(maintainer, name="tool", version="1.0.0", file_name="b.bin")).status == 404
    assert (await gateway.get(maintainer, name="tool", version="2.0.0", file_name="a.bin")).status == 404
    assert (await gateway.get(maintainer, name="tool", version="1.0.0", file_name="a.bin")).status == 200

    # The background task removes the objects, then the rows.
    async def rows_left() -> int:
        async with gateway.pool.acquire() as conn:
            return await conn.fetchval(
                "SELECT (SELECT count(*) FROM package_files WHERE id = $1 OR package_id = $2)"
                " + (SELECT count(*) FROM packages WHERE id = $2)", deleted_file, deleted_package)

    for _ in range(300):
        if await rows_left() == 0:
            break
        await asyncio.sleep(0.05)
    assert await rows_left() == 0
    assert await gateway.count("package_files") == 2
    assert len(gateway.stored_objects()) == 2  # the two files left of tool 1.0.0


async def test_python_gitlab_group_packages(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    public_app = await gateway.project(path="corp/public-app", public=True)
    private_app = await gateway.project(path="corp/team/private-app")
    elsewhere = await gateway.project(path="other/app", public=True)
    dev = await gateway.user("developer", private_app)
    await gateway.admin.add_member("corp/public-app", dev.username, "developer")
    await gateway.admin.add_member("other/app", dev.username, "developer")
    await publish(gateway, dev, {"lib": ["1.0"]})  # in corp/team/private-app
    await gateway.put(dev, b"x", project=public_app["id"], name="web", version="3.0")
    await gateway.put(dev, b"x", project=elsewhere["id"], name="nope", version="1.0")

    def use() -> None:
        group = client(gateway, dev).groups.get("corp", lazy=True)
        listed = group.packages.list(get_all=True, order_by="project_path")
        assert [(p.name, p.project_path) for p in listed] == [  # by own path: private- < public-
            ("lib", "corp/team/private-app"), ("web", "corp/public-app")]
        assert [p.name for p in group.packages.list(get_all=True, exclude_subgroups=True)] == ["web"]
        anonymous = client(gateway, None).groups.get("corp", lazy=True)
        assert [p.name for p in anonymous.packages.list(get_all=True)] == ["web"]

    await asyncio.to_thread(use)


async def test_group_list_orders_by_the_projects_own_path(gateway_factory: GatewayFactory) -> None:
    """GitLab's `order_by=project_path` sorts by `projects.path`, the last segment:
    `corp/zeta/app` comes before `corp/beta`, whose full path sorts first."""
    gateway = await gateway_factory("fs")
    deep = await gateway.project(path="corp/zeta/app", public=True)
    shallow = await gateway.project(path="corp/beta", public=True)
    dev = await gateway.user("developer", deep)
    await gateway.admin.add_member(shallow["path"], dev.username, "developer")
    for project, name in ((shallow, "in-beta"), (deep, "in-app")):
        assert (await gateway.put(dev, b"x", project=project["id"], name=name)).status == 201

    async def names(sort: str) -> list[str]:
        response = await gateway.client.get("/api/v4/groups/corp/packages", params={
            "order_by": "project_path", "sort": sort})
        return [p["name"] for p in await response.json()]

    assert await names("asc") == ["in-app", "in-beta"]
    assert await names("desc") == ["in-beta", "in-app"]


async def test_pagination_headers_on_a_page_boundary(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    await publish(gateway, dev, {"pkg": [f"1.0.{i}" for i in range(5)]})
    url = f"/api/v4/projects/{dev.project_id}/packages"
    base = gateway.base_url

    def link(page: int) -> str:
        return f"{base}{url}?order_by=version&page={page}&per_page=2"

    first = await gateway.client.get(url, headers=dev.headers,
                                     params={"per_page": "2", "order_by": "version"})
    assert [p["version"] for p in await first.json()] == ["1.0.0", "1.0.1"]
    assert {h: first.headers[h] for h in ("X-Total", "X-Total-Pages", "X-Page", "X-Per-Page",
                                          "X-Next-Page", "X-Prev-Page")} == {
        "X-Total": "5", "X-Total-Pages": "3", "X-Page": "1", "X-Per-Page": "2",
        "X-Next-Page": "2", "X-Prev-Page": ""}
    assert first.headers["Link"] == (f'<{link(2)}>; rel="next", <{link(1)}>; rel="first", '
                                     f'<{link(3)}>; rel="last"')

    last = await gateway.client.get(url, headers=dev.headers,
                                    params={"per_page": "2", "order_by": "version", "page": "3"})
    assert [p["version"] for p in await last.json()] == ["1.0.4"]
    assert (last.headers["X-Next-Page"], last.headers["X-Prev-Page"]) == ("", "2")
    assert last.headers["Link"] == (f'<{link(2)}>; rel="prev", <{link(1)}>; rel="first", '
                                    f'<{link(3)}>; rel="last"')

    beyond = await gateway.client.get(url, headers=dev.headers,
                                      params={"per_page": "2", "order_by": "version", "page": "4"})
    assert await beyond.json() == []
    assert (beyond.headers["X-Next-Page"], beyond.headers["X-Prev-Page"]) == ("", "")

    capped = await gateway.client.get(url, headers=dev.headers, params={"per_page": "5000000000"})
    assert capped.headers["X-Per-Page"] == "100"
    far = await gateway.client.get(url, headers=dev.headers, params={"per_page": "100", "page": "900"})
    assert far.status == 200 and await far.json() == []  # GitLab's answer past the end
    default = await gateway.client.get(url, headers=dev.headers)
    assert default.headers["X-Per-Page"] == "20"
    assert [p["version"] for p in await default.json()] == [f"1.0.{i}" for i in range(5)]


@pytest.mark.parametrize(("query", "param"), [
    ({"order_by": "size"}, "order_by"), ({"sort": "up"}, "sort"), ({"per_page": "0"}, "per_page"),
    ({"page": "-1"}, "page"), ({"page": "x"}, "page"), ({"status": "gone"}, "status"),
    ({"package_type": "zip"}, "package_type"), ({"include_versionless": "maybe"}, "include_versionless"),
    ({"page": "9" * 19}, "page"), ({"package_name": "a\x00b"}, "package_name"),
    ({"package_version": "\x00"}, "package_version"),
])
async def test_invalid_list_parameters(gateway_factory: GatewayFactory, query: dict[str, str],
                                       param: str) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    response = await gateway.client.get(f"/api/v4/projects/{dev.project_id}/packages",
                                        headers=dev.headers, params=query)
    assert response.status == 400
    assert await response.json() == {"error": f"{param} does not have a valid value"}


async def test_hidden_packages(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    await gateway.put(dev, b"shown", name="shown")
    await gateway.put(dev, b"hidden", name="hidden", params={"status": "hidden"})
    url = f"/api/v4/projects/{dev.project_id}/packages"

    listed = await (await gateway.client.get(url, headers=dev.headers)).json()
    assert [p["name"] for p in listed] == ["shown"]
    only_hidden = await (await gateway.client.get(url, headers=dev.headers,
                                                  params={"status": "hidden"})).json()
    assert [(p["name"], p["status"]) for p in only_hidden] == [("hidden", "hidden")]
    assert "web_path" not in only_hidden[0]["_links"]
    single = await gateway.client.get(f"{url}/{only_hidden[0]['id']}", headers=dev.headers)
    assert single.status == 404
    assert (await gateway.get(dev, name="hidden")).status == 200  # by exact path


async def test_delete_links_follow_the_right_to_delete(gateway_factory: GatewayFactory) -> None:
    """Who gets which code is tests/api/test_packages_api_access.py; here, the
    `delete_api_path` link and a delete of another project's package."""
    gateway = await gateway_factory("fs")
    private = await gateway.project()
    public = await gateway.project(public=True)
    maintainer = await gateway.user("maintainer", private)
    await gateway.admin.add_member(public["path"], maintainer.username, "maintainer")
    await publish(gateway, maintainer, {"tool": ["1.0"]})
    await gateway.put(maintainer, b"x", project=public["id"], name="tool", version="1.0")
    reporter = await gateway.user("reporter", private)

    listed = await (await gateway.client.get(f"/api/v4/projects/{private['id']}/packages",
                                             headers=maintainer.headers)).json()
    package_id = listed[0]["id"]
    assert listed[0]["_links"]["delete_api_path"] == (
        f"{gateway.base_url}/api/v4/projects/{private['id']}/packages/{package_id}")
    as_reporter = await (await gateway.client.get(f"/api/v4/projects/{private['id']}/packages",
                                                  headers=reporter.headers)).json()
    assert "delete_api_path" not in as_reporter[0]["_links"]

    other_project_url = f"/api/v4/projects/{public['id']}/packages/{package_id}"
    assert (await gateway.client.delete(other_project_url, headers=maintainer.headers)).status == 404
    package_url = f"/api/v4/projects/{private['id']}/packages/{package_id}"
    assert (await gateway.client.delete(package_url, headers=maintainer.headers)).status == 204
    assert (await gateway.client.delete(package_url, headers=maintainer.headers)).status == 404


async def test_deleting_a_package_removes_its_objects(gateway: Gateway) -> None:
    """On both backends: the rows and the objects are gone once the task ran."""
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await publish(gateway, maintainer, {"tool": ["1.0"], "keep": ["1.0"]}, files=("a", "b", "c"))
    listed = await (await gateway.client.get(f"/api/v4/projects/{project['id']}/packages",
                                             headers=maintainer.headers)).json()
    tool = next(p for p in listed if p["name"] == "tool")
    async with gateway.pool.acquire() as conn:
        tool_keys = [r["object_key"] for r in await conn.fetch(
            "SELECT object_key FROM package_files WHERE package_id = $1", tool["id"])]
    prefix = gateway.settings.s3.prefix if gateway.settings.s3 else ""
    assert all(prefix + key in gateway.stored_objects() for key in tool_keys)

    response = await gateway.client.delete(f"/api/v4/projects/{project['id']}/packages/{tool['id']}",
                                           headers=maintainer.headers)
    assert response.status == 204

    await wait_for(lambda: len(gateway.stored_objects()) == 3)
    assert not any(prefix + key in gateway.stored_objects() for key in tool_keys)

    async def tool_rows() -> int:
        async with gateway.pool.acquire() as conn:
            return await conn.fetchval("SELECT (SELECT count(*) FROM packages WHERE id = $1) + "
                                       "(SELECT count(*) FROM package_files WHERE package_id = $1)",
                                       tool["id"])

    for _ in range(200):
        if await tool_rows() == 0:
            break
        await asyncio.sleep(0.05)
    assert await tool_rows() == 0
    assert await gateway.count("package_files") == 3
    assert gateway.multipart_uploads() == []


async def test_deleting_the_last_file_keeps_the_package(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await publish(gateway, maintainer, {"tool": ["1.0"]})
    url = f"/api/v4/projects/{project['id']}/packages"
    package = (await (await gateway.client.get(url, headers=maintainer.headers)).json())[0]
    files = await (await gateway.client.get(f"{url}/{package['id']}/package_files",
                                            headers=maintainer.headers)).json()
    response = await gateway.client.delete(f"{url}/{package['id']}/package_files/{files[0]['id']}",
                                           headers=maintainer.headers)
    assert response.status == 204
    await wait_for(lambda: gateway.stored_objects() == [])
    assert [p["id"] for p in await (await gateway.client.get(url, headers=maintainer.headers)).json()] \
        == [package["id"]]
    assert await (await gateway.client.get(f"{url}/{package['id']}/package_files",
                                           headers=maintainer.headers)).json() == []
    again = await gateway.client.delete(f"{url}/{package['id']}/package_files/{files[0]['id']}",
                                        headers=maintainer.headers)
    assert again.status == 404


async def test_upload_to_a_package_being_destroyed_makes_a_new_one(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await publish(gateway, maintainer, {"tool": ["1.0"]})
    async with gateway.pool.acquire() as conn:
        old_id = await conn.fetchval("SELECT id FROM packages")
        # Marked as a DELETE marks it; the destroyer is not woken, so it stays pending.
        await conn.execute("UPDATE packages SET status = 'pending_destruction'")
        await conn.execute("UPDATE package_files SET status = 'pending_destruction'")

    assert (await gateway.put(maintainer, b"new", name="tool", version="1.0")).status == 201
    async with gateway.pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, status FROM packages ORDER BY id")
    assert [(r["id"] == old_id, r["status"]) for r in rows] == [(True, "pending_destruction"),
                                                                (False, "default")]
    assert await (await gateway.get(maintainer, name="tool", version="1.0")).read() == b"new"

    # Through the API, with the destroyer at work: again a fresh package.
    new_id = rows[1]["id"]
    response = await gateway.client.delete(f"/api/v4/projects/{project['id']}/packages/{new_id}",
                                           headers=maintainer.headers)
    assert response.status == 204
    assert (await gateway.put(maintainer, b"newer", name="tool", version="1.0")).status == 201
    async with gateway.pool.acquire() as conn:
        live = await conn.fetchval("SELECT id FROM packages WHERE status = 'default'")
    assert live not in {old_id, new_id}
    assert await (await gateway.get(maintainer, name="tool", version="1.0")).read() == b"newer"


async def test_destruction_interrupted_by_a_crash_finishes_at_the_next_start(
        gateway_factory: GatewayFactory) -> None:
    first = await gateway_factory("fs")
    project = await first.project()
    maintainer = await first.user("maintainer", project)
    await publish(first, maintainer, {"tool": ["1.0"]}, files=("a", "b"))
    # As if a process died right after marking: rows marked, objects still there.
    async with first.pool.acquire() as conn:
        await conn.execute("UPDATE packages SET status = 'pending_destruction'")
        await conn.execute("UPDATE package_files SET status = 'pending_destruction'")
    assert len(first.stored_objects()) == 2

    await gateway_factory("fs")  # a new process on the same database and storage
    await wait_for(lambda: first.stored_objects() == [])
    for _ in range(200):
        if await first.count("packages") == 0:
            break
        await asyncio.sleep(0.05)
    assert (await first.count("packages"), await first.count("package_files")) == (0, 0)


async def test_delete_honours_if_unmodified_since(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await publish(gateway, maintainer, {"tool": ["1.0"]})
    async with gateway.pool.acquire() as conn:
        package_id = await conn.fetchval("SELECT id FROM packages")
    url = f"/api/v4/projects/{project['id']}/packages/{package_id}"
    stale = await gateway.client.delete(url, headers={**maintainer.headers,
                                                      "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert stale.status == 412
    fresh = await gateway.client.delete(url, headers={**maintainer.headers,
                                                      "If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"})
    assert fresh.status == 204


async def test_group_listing_rights(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    private = await gateway.project(path="secret/app")
    maintainer = await gateway.user("maintainer", private)
    await publish(gateway, maintainer, {"tool": ["1.0"]})
    stranger = await gateway.user(None, private)
    guest = await gateway.user("guest", private)

    async def group_list(headers: dict[str, str], ref: str = "secret") -> Any:
        return await gateway.client.get(f"/api/v4/groups/{ref}/packages", headers=headers)

    assert (await group_list({})).status == 404  # the Packages API never answers anonymous 401
    assert (await group_list(stranger.headers)).status == 404
    assert (await group_list(guest.headers)).status == 404  # listing needs reporter
    assert (await group_list(maintainer.headers, "nowhere")).status == 404
    response = await group_list(maintainer.headers)
    listed = await response.json()
    assert [(p["name"], p["project_id"], p["project_path"]) for p in listed] == [
        ("tool", private["id"], "secret/app")]
    assert "delete_api_path" in listed[0]["_links"]
    group_id = (await gateway.admin.group("secret")).id
    assert (await group_list(maintainer.headers, str(group_id))).status == 200


async def test_an_object_that_cannot_be_removed_holds_up_nothing_else(
        gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await publish(gateway, maintainer, {"stuck": ["1.0"], "fine": ["1.0"]})
    async with gateway.pool.acquire() as conn:
        rows = {r["name"]: (r["id"], r["object_key"]) for r in await conn.fetch(
            "SELECT p.name, p.id, f.object_key FROM packages p JOIN package_files f ON f.package_id = p.id")}
    # The storage refuses to remove this object: its path has become a folder with a file in it.
    stuck_path = gateway.registry.store.path_for(rows["stuck"][1])  # type: ignore[attr-defined]
    stuck_path.unlink()
    (stuck_path / "inside").parent.mkdir()
    (stuck_path / "inside").write_bytes(b"x")

    for name in ("stuck", "fine"):
        response = await gateway.client.delete(
            f"/api/v4/projects/{project['id']}/packages/{rows[name][0]}", headers=maintainer.headers)
        assert response.status == 204

    async def remaining() -> list[str]:
        async with gateway.pool.acquire() as conn:
            return [r["name"] for r in await conn.fetch("SELECT name FROM packages ORDER BY name")]

    for _ in range(200):
        if await remaining() == ["stuck"]:
            break
        await asyncio.sleep(0.05)
    assert await remaining() == ["stuck"]  # "fine" went; "stuck" waits for a retry
    assert not gateway.registry.store.path_for(rows["fine"][1]).exists()  # type: ignore[attr-defined]
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM package_files") == "pending_destruction"
