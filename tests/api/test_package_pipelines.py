"""CI provenance: a file pushed with a job token created with `--pipeline-id`
records its pipeline and job; packages carry GitLab's `pipeline` and `pipelines`
fields, and `GET .../packages/:id/pipelines` lists them (python-gitlab's
`package.pipelines.list()`)."""

from __future__ import annotations

import asyncio
import datetime as dt

import gitlab
import pytest

from gateway.admin import AdminError, CiPipeline
from tests.harness import GatewayFactory

SHA = "0123456789abcdef0123456789abcdef01234567"


async def test_pipelines_of_a_package(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs", external_url="https://gitlab.example.com")
    project = await gateway.project(path="group/app")
    dev = await gateway.user("developer", project)
    admin = gateway.admin
    first = await admin.create_job_token(project["path"], dev.username, dt.timedelta(hours=1),
                                         CiPipeline(1001, "main", SHA, 5001))
    second = await admin.create_job_token(project["path"], dev.username, dt.timedelta(hours=1),
                                          CiPipeline(1002, "v1.0"))
    plain = await admin.create_job_token(project["path"], dev.username, dt.timedelta(hours=1))
    for token, file_name in ((first, "a.bin"), (second, "b.bin"), (plain, "c.bin"),
                             (first, "d.bin")):
        response = await gateway.put(None, b"x", project=project["id"], file_name=file_name,
                                     headers={"JOB-TOKEN": token})
        assert response.status == 201
    async with gateway.pool.acquire() as conn:
        rows = {r["file_name"]: (r["ci_pipeline_id"], r["ci_job_id"]) for r in await conn.fetch(
            "SELECT file_name, ci_pipeline_id, ci_job_id FROM package_files")}
    assert rows == {"a.bin": (1001, 5001), "b.bin": (1002, None), "c.bin": (None, None),
                    "d.bin": (1001, 5001)}

    def use() -> None:
        # GATEWAY_EXTERNAL_URL names another host (the GitLab in front): keep ours.
        gl = gitlab.Gitlab(gateway.base_url, private_token=dev.token, keep_base_url=True)
        package = gl.projects.get("group/app", lazy=True).packages.list(get_all=True)[0]
        # The latest pipeline is that of the newest file pushed by one (d.bin).
        assert package.pipeline["id"] == 1001
        assert package.attributes["pipelines"] == []  # GitLab's: the list is the route below
        listed = package.pipelines.list(get_all=True)
        assert [(p.id, p.ref, p.sha) for p in listed] == [(1002, "v1.0", None), (1001, "main", SHA)]
        newest = listed[1]
        assert newest.web_url == "https://gitlab.example.com/group/app/-/pipelines/1001"
        assert newest.user["username"] == dev.username
        assert newest.project_id == project["id"]
        assert newest.iid is None and newest.status is None  # not known here
        single = gl.projects.get(project["id"], lazy=True).packages.get(package.id)
        assert single.pipeline["id"] == 1001
        assert len(single.pipelines.list(per_page=1, get_all=False)) == 1

    await asyncio.to_thread(use)


async def test_a_package_without_pipelines(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"x")).status == 201
    async with gateway.pool.acquire() as conn:
        package_id = await conn.fetchval("SELECT id FROM packages")
    base = f"/api/v4/projects/{dev.project_id}/packages/{package_id}"
    response = await gateway.client.get(f"{base}/pipelines", headers=dev.headers)
    assert response.status == 200
    assert await response.json() == []
    single = await (await gateway.client.get(base, headers=dev.headers)).json()
    assert "pipeline" not in single and "pipelines" not in single
    missing = await gateway.client.get(
        f"/api/v4/projects/{dev.project_id}/packages/999999/pipelines", headers=dev.headers)
    assert missing.status == 404


async def test_web_url_needs_an_external_url(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    dev = await gateway.user("developer", project)
    token = await gateway.admin.create_job_token(project["path"], dev.username,
                                                 dt.timedelta(hours=1), CiPipeline(7))
    await gateway.put(None, b"x", project=project["id"], headers={"JOB-TOKEN": token})
    listed = await (await gateway.client.get(f"/api/v4/projects/{project['id']}/packages",
                                             headers=dev.headers)).json()
    assert listed[0]["pipeline"]["web_url"] is None
    assert listed[0]["pipeline"]["id"] == 7


async def test_pipeline_ids_belong_to_one_project(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    one, two = await gateway.project(), await gateway.project()
    dev = await gateway.user("developer", one)
    await gateway.admin.add_member(two["path"], dev.username, "developer")
    await gateway.admin.create_job_token(one["path"], dev.username, dt.timedelta(hours=1),
                                         CiPipeline(42))
    with pytest.raises(AdminError, match="another project"):
        await gateway.admin.create_job_token(two["path"], dev.username, dt.timedelta(hours=1),
                                             CiPipeline(42))
    with pytest.raises(AdminError, match="sha"):
        await gateway.admin.create_job_token(one["path"], dev.username, dt.timedelta(hours=1),
                                             CiPipeline(43, sha="not-a-sha"))
