"""The History tab and the "built from" CI ref, read from the package events
that pushes and deletions record."""

from __future__ import annotations

import datetime as dt

from gateway.admin import CiPipeline
from tests.harness import Gateway, GatewayFactory
from tests.web.pages import page, push


async def test_history_tab_lists_pushes_and_deletions_newest_first(
        gateway_factory: GatewayFactory) -> None:
    gateway: Gateway = await gateway_factory("fs")
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    maintainer = await gateway.user("maintainer", project)
    job_token = await gateway.admin.create_job_token(
        project["path"], dev.username, dt.timedelta(hours=1),
        CiPipeline(77, ref="main", sha="f00dcafe"))
    by_job = await gateway.put(None, b"data", name="app", version="1.0", file_name="a.bin",
                               project=project["id"], headers={"JOB-TOKEN": job_token},
                               params={"select": "package_file"})
    assert by_job.status == 200, await by_job.text()
    pushed = await by_job.json()
    second = await push(gateway, dev, b"more", name="app", version="1.0", file_name="b.bin")
    deleted = await gateway.client.delete(
        f"/api/v4/projects/{project['id']}/packages/{second['package_id']}/package_files/"
        f"{second['id']}", headers=maintainer.headers)
    assert deleted.status == 204

    path = f"/{project['path']}/-/packages/{pushed['package_id']}"
    html = await page(gateway, f"{path}?tab=history")
    assert "No history recorded yet" not in html
    rows = html[html.index('<section class="history">'):]
    # Newest first: the deletion, the developer's push, the job's push.
    assert rows.index(">deleted<") < rows.index(">pushed<")
    assert rows.index("b.bin") < rows.index("a.bin")
    assert pushed["file_sha256"] in rows and second["file_sha256"] in rows
    assert '<span class="ref">main</span> <span class="subtle">pipeline 77</span>' in rows
    assert f'{dev.username} <span class="subtle">(job)</span>' in rows
    assert f'{maintainer.username} <span class="subtle">(user)</span>' in rows
    assert 'title="f00dcafe">Built from <strong>main</strong>' in html

    registry = await page(gateway, f"/{project['path']}/-/packages")
    assert 'title="f00dcafe">Built from <strong>main</strong>' in registry
    assert '<span class="ref" title="CI ref">main</span>' in registry


async def test_a_package_with_no_ci_push_shows_no_ref(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"data")
    html = await page(gateway, f"/{project['path']}/-/packages/{pushed['package_id']}?tab=history")
    assert ">pushed<" in html and "Built from" not in html
