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


@pytest.mark.parametrize(("query", "error"), [
    # Grape's `values:`
    ({"order_by": "size"}, "order_by does not have a valid value"),
    ({"sort": "up"}, "sort does not have a valid value"),
    ({"status": "gone"}, "status does not have a valid value"),
    ({"package_type": "zip"}, "package_type does not have a valid value"),
    # Grape's Integer and Boolean types
    ({"page": "x"}, "page is invalid"), ({"page": "1.5"}, "page is invalid"),
    ({"per_page": "abc"}, "per_page is invalid"),
    ({"include_versionless": "maybe"}, "include_versionless is invalid"),
    # PaginationParams' `except_values: [0]`
    ({"per_page": "0"}, "per_page has a value not allowed"),
    # the gateway's own limits on free text
    ({"package_name": "a\x00b"}, "package_name does not have a valid value"),
    ({"package_version": "\x00"}, "package_version does not have a valid value"),
])
async def test_invalid_list_parameters(gateway_factory: GatewayFactory, query: dict[str, str],
                                       error: str) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    response = await gateway.client.get(f"/api/v4/projects/{dev.project_id}/packages",
                                        headers=dev.headers, params=query)
    assert response.status == 400
    assert await response.json() == {"error": error}


async def test_parameter_errors_on_the_other_lists(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project(path="team/app")
    dev = await gateway.user("developer", project)
    await publish(gateway, dev, {"tool": ["1.0"]})
    package = (await (await gateway.client.get(f"/api/v4/projects/{dev.project_id}/packages",
                                                headers=dev.headers)).json())[0]
    files = f"/api/v4/projects/{dev.project_id}/packages/{package['id']}/package_files"
    cases = [
        ("/api/v4/groups/team/packages", {"exclude_subgroups": "maybe"},
         "exclude_subgroups is invalid"),
        ("/api/v4/groups/team/packages", {"order_by": "size"}, "order_by does not have a valid value"),
        ("/api/v4/groups/team/packages", {"page": "abc"}, "page is invalid"),
        (files, {"order_by": "size"}, "order_by does not have a valid value"),
        (files, {"sort": "up"}, "sort does not have a valid value"),
        (files, {"per_page": "abc"}, "per_page is invalid"),
        (files, {"per_page": "0"}, "per_page has a value not allowed"),
    ]
    for url, query, error in cases:
        response = await gateway.client.get(url, headers=dev.headers, params=query)
        assert (response.status, await response.json()) == (400, {"error": error}), (url, query)


async def test_pages_below_one_are_the_first_page(gateway_factory: GatewayFactory) -> None:
    """As Kaminari reads them: page 0 or -1 is page 1, a negative per_page the default."""
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    await publish(gateway, dev, {"pkg": ["1.0", "2.0", "3.0"]})
    url = f"/api/v4/projects/{dev.project_id}/packages"
    for query, versions, per_page in (({"page": "0", "per_page": "2"}, ["1.0", "2.0"], "2"),
                                      ({"page": "-1", "per_page": "2"}, ["1.0", "2.0"], "2"),
                                      ({"per_page": "-1"}, ["1.0", "2.0", "3.0"], "20"),
                                      ({"page": "+2", "per_page": "2"}, ["3.0"], "2")):
        response = await gateway.client.get(url, headers=dev.headers, params=query)
        assert response.status == 200, query
        assert [p["version"] for p in await response.json()] == versions, query
        assert response.headers["X-Per-Page"] == per_page, query
    first = await gateway.client.get(url, headers=dev.headers, params={"page": "0", "per_page": "2"})
    assert (first.headers["X-Page"], first.headers["X-Prev-Page"], first.headers["X-Next-Page"]) \
        == ("1", "", "2")
    huge = await gateway.client.get(url, headers=dev.headers, params={"page": "9" * 19})
    assert huge.status == 200 and await huge.json() == []  # Grape takes any integer: past the end


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


def package_id_routes(project_id: int, package_id: int, file_id: int) -> list[tuple[str, str]]:
    """Every Packages-API route that takes a package id."""
    package = f"/api/v4/projects/{project_id}/packages/{package_id}"
    return [("GET", package), ("GET", f"{package}/package_files"),
            ("GET", f"{package}/package_files/{file_id}/download"), ("GET", f"{package}/pipelines"),
            ("DELETE", f"{package}/package_files/{file_id}"), ("DELETE", package)]


async def test_packages_the_finder_does_not_find_are_404_not_found(
        gateway_factory: GatewayFactory) -> None:
    """GitLab's PackageFinder (`.displayable`, then `find`): a hidden package, a
    missing one and another project's are its RecordNotFound, `404 Not found`."""
    gateway = await gateway_factory("fs")
    project, other = await gateway.project(), await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await gateway.admin.add_member(other["path"], maintainer.username, "maintainer")
    await gateway.put(maintainer, b"hidden", name="hidden", params={"status": "hidden"})
    await gateway.put(maintainer, b"shown", name="shown")
    async with gateway.pool.acquire() as conn:
        ids = {r["name"]: (r["package_id"], r["id"]) for r in await conn.fetch(
            "SELECT p.name, f.package_id, f.id FROM package_files f "
            "JOIN packages p ON p.id = f.package_id")}
    hidden, shown = ids["hidden"], ids["shown"]
    cases = [*package_id_routes(project["id"], *hidden),
             *package_id_routes(project["id"], 987654321, shown[1]),
             *package_id_routes(project["id"], 2**63 + 1, shown[1]),  # Grape takes it; none has it
             *package_id_routes(other["id"], *shown)]
    for method, url in cases:
        response = await gateway.client.request(method, url, headers=maintainer.headers)
        assert (response.status, await response.json()) == (404, {"message": "404 Not found"}), \
            (method, url)
    assert await gateway.count("package_files") == 2  # nothing deleted

    def use() -> None:
        gl = client(gateway, maintainer)
        with pytest.raises(gitlab.exceptions.GitlabGetError) as raised:
            gl.projects.get(project["id"], lazy=True).packages.get(hidden[0])
        assert raised.value.response_code == 404 and raised.value.error_message == "404 Not found"

    await asyncio.to_thread(use)
    # The generic download by exact path still serves it, as in GitLab.
    assert (await gateway.get(maintainer, name="hidden")).status == 200


async def one_package(gateway: Gateway) -> tuple[dict[str, Any], Identity, int, int]:
    """A project with a maintainer and one package of one file: their ids."""
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await publish(gateway, maintainer, {"tool": ["1.0"]})
    async with gateway.pool.acquire() as conn:
        package_id, file_id = await conn.fetchrow("SELECT package_id, id FROM package_files")
    return project, maintainer, package_id, file_id


async def test_a_missing_file_of_a_package_is_404_not_found(gateway_factory: GatewayFactory) -> None:
    """GitLab's `not_found!` once the package was found: capital F."""
    gateway = await gateway_factory("fs")
    project, maintainer, package_id, file_id = await one_package(gateway)
    package = f"/api/v4/projects/{project['id']}/packages/{package_id}"
    for method, url in (("GET", f"{package}/package_files/{file_id + 1000}/download"),
                        ("DELETE", f"{package}/package_files/{file_id + 1000}"),
                        ("DELETE", f"{package}/package_files/{2**64}")):
        response = await gateway.client.request(method, url, headers=maintainer.headers)
        assert (response.status, await response.json()) == (404, {"message": "404 Not Found"}), \
            (method, url)
    deleted = await gateway.client.delete(f"{package}/package_files/{file_id}",
                                          headers=maintainer.headers)
    assert deleted.status == 204
    again = await gateway.client.delete(f"{package}/package_files/{file_id}", headers=maintainer.headers)
    assert (again.status, await again.json()) == (404, {"message": "404 Not Found"})
    assert (await gateway.client.delete(package, headers=maintainer.headers)).status == 204
    gone = await gateway.client.get(package, headers=maintainer.headers)
    assert (gone.status, await gone.json()) == (404, {"message": "404 Not found"})

    def use() -> None:
        with pytest.raises(gitlab.exceptions.GitlabGetError) as raised:
            client(gateway, maintainer).projects.get(project["id"], lazy=True).packages.get(package_id)
        assert raised.value.error_message == "404 Not found"

    await asyncio.to_thread(use)


async def test_ids_that_are_not_integers_are_400(gateway_factory: GatewayFactory) -> None:
    """Grape's `type: Integer` on the route's id, under GitLab's parameter name;
    the gateway's own resources beside packages still answer."""
    gateway = await gateway_factory("fs")
    project, maintainer, package_id, file_id = await one_package(gateway)
    packages = f"/api/v4/projects/{project['id']}/packages"
    rules = f"{packages}/protection/rules"
    cases = [
        ("GET", f"{packages}/abc", "package_id"), ("DELETE", f"{packages}/abc", "package_id"),
        ("GET", f"{packages}/1.5", "package_id"), ("GET", f"{packages}/generic", "package_id"),
        ("GET", f"{packages}/abc/package_files", "package_id"),
        ("GET", f"{packages}/abc/pipelines", "package_id"),
        ("DELETE", f"{packages}/abc/package_files/{file_id}", "package_id"),
        ("GET", f"{packages}/{package_id}/package_files/abc/download", "package_file_id"),
        ("DELETE", f"{packages}/{package_id}/package_files/abc", "package_file_id"),
        ("PATCH", f"{rules}/abc", "package_protection_rule_id"),
        ("DELETE", f"{rules}/abc", "package_protection_rule_id"),
    ]
    for method, url, param in cases:
        response = await gateway.client.request(method, url, headers=maintainer.headers)
        assert (response.status, await response.json()) == (400, {"error": f"{param} is invalid"}), \
            (method, url)
    for method, url in (("PATCH", f"{rules}/{2**64}"), ("DELETE", f"{rules}/-1")):
        response = await gateway.client.request(method, url, headers=maintainer.headers)
        assert (response.status, await response.json()) == (404, {"message": "404 Not found"})
    for own in ("events", "hooks", "verification_gate"):
        assert (await gateway.client.get(f"{packages}/{own}", headers=maintainer.headers)).status \
            == 200, own
    assert await gateway.count("package_files") == 1


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
