"""The GitLab resources clients touch before package calls: python-gitlab's
`gl.auth()`, `gl.version()`, `gl.projects.get(path)` and `gl.groups.get(path)`
without `lazy`, and who sees which project or group."""

from __future__ import annotations

import asyncio
import datetime as dt

import gitlab
import pytest

from tests.api.test_access_matrix import PROXY_SECRET, credential_headers
from tests.harness import GatewayFactory


async def test_python_gitlab_without_lazy(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project(path="group/app")
    dev = await gateway.user("developer", project)

    def use() -> None:
        gl = gitlab.Gitlab(gateway.base_url, private_token=dev.token)
        gl.auth()
        assert (gl.user.username, gl.user.id) == (dev.username, gl.user.id)
        assert gl.user.web_url == f"{gateway.base_url}/{dev.username}"
        version, revision = gl.version()
        assert version == "18.4.0" and revision.startswith("gateway-")

        app = gl.projects.get("group/app")
        assert (app.id, app.path, app.path_with_namespace, app.name) == (
            project["id"], "app", "group/app", "app")
        assert app.visibility == "private"
        assert app.namespace["full_path"] == "group" and app.namespace["kind"] == "group"
        assert app.web_url == f"{gateway.base_url}/group/app"
        assert gl.projects.get(project["id"]).path_with_namespace == "group/app"
        # The object is a real project: its managers work from it.
        uploaded = app.generic_packages.upload(package_name="tool", package_version="1.0",
                                               file_name="t.bin", data=b"x")
        assert uploaded.message == "201 Created"
        assert [p.name for p in app.packages.list(get_all=True)] == ["tool"]

        group = gl.groups.get("group")
        assert (group.full_path, group.path, group.visibility) == ("group", "group", "private")
        assert [p.name for p in group.packages.list(get_all=True)] == ["tool"]
        assert gl.groups.get(group.id).full_path == "group"

        with pytest.raises(gitlab.exceptions.GitlabGetError) as missing:
            gl.projects.get("group/absent")
        assert missing.value.response_code == 404

    await asyncio.to_thread(use)


async def test_user_and_version_need_a_user(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    job = await gateway.admin.create_job_token(project["path"], dev.username, dt.timedelta(hours=1))
    deploy = await gateway.admin.create_deploy_token(project["path"], ["read_package_registry"],
                                                     None, None)
    for path in ("/api/v4/user", "/api/v4/version"):
        assert (await gateway.client.get(path)).status == 401
        assert (await gateway.client.get(path, headers={"Deploy-Token": deploy})).status == 401
        assert (await gateway.client.get(path, headers={"PRIVATE-TOKEN": "glpat-nope"})).status == 401
        assert (await gateway.client.get(path, headers=dev.headers)).status == 200
    by_job = await gateway.client.get("/api/v4/user", headers={"JOB-TOKEN": job})
    assert (await by_job.json())["username"] == dev.username

    def auth_anonymously() -> int:
        try:
            gitlab.Gitlab(gateway.base_url, private_token="glpat-nope").auth()
        except gitlab.exceptions.GitlabAuthenticationError as exc:
            return exc.response_code
        raise AssertionError("auth should fail")

    assert await asyncio.to_thread(auth_anonymously) == 401


# credential -> (private project, public project) codes of GET /projects/:id
PROJECT_CELLS = [
    ("none", 404, 200),
    ("bad", 401, 401),
    ("personal-guest", 200, 200),
    ("personal-non-member", 404, 200),
    ("deploy-read", 404, 200),  # not read on the API: anonymous
    ("job-own-project", 200, 200),
    ("job-other-project", 404, 200),
    ("proxy-reporter", 200, 200),
]


@pytest.mark.parametrize(("credential", "private", "public"), PROJECT_CELLS,
                         ids=[c for c, _, _ in PROJECT_CELLS])
async def test_project_visibility(gateway_factory: GatewayFactory, credential: str, private: int,
                                  public: int) -> None:
    gateway = await gateway_factory("fs", trusted_proxy_secret=PROXY_SECRET)
    for visibility, expected in (("private", private), ("public", public)):
        project = await gateway.project(public=visibility == "public")
        headers = await credential_headers(gateway, project, credential)
        response = await gateway.client.get(f"/api/v4/projects/{project['id']}", headers=headers)
        assert response.status == expected, (visibility, await response.text())
        if expected == 200:
            assert (await response.json())["visibility"] == visibility
        if expected == 404:
            assert await response.json() == {"message": "404 Project Not Found"}


@pytest.mark.parametrize(("credential", "expected"), [
    ("none", 404), ("personal-guest", 200), ("personal-non-member", 404), ("job-own-project", 200),
    ("job-other-project", 404), ("deploy-read", 404)])
async def test_private_group_visibility(gateway_factory: GatewayFactory, credential: str,
                                        expected: int) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project(path="secret/team/app")
    headers = await credential_headers(gateway, project, credential)
    for ref in ("secret", "secret%2Fteam"):
        response = await gateway.client.get(f"/api/v4/groups/{ref}", headers=headers)
        assert response.status == expected, await response.text()
        if expected == 200:
            assert (await response.json())["visibility"] == "private"


async def test_a_group_with_a_public_project_is_public(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    await gateway.project(path="open/inner/app", public=True)
    await gateway.project(path="open/closed")
    for ref in ("open", "open%2Finner"):
        response = await gateway.client.get(f"/api/v4/groups/{ref}")
        assert response.status == 200
        body = await response.json()
        assert body["visibility"] == "public"
        assert body["full_path"] == ref.replace("%2F", "/")
    assert (await gateway.client.get("/api/v4/groups/nowhere")).status == 404
