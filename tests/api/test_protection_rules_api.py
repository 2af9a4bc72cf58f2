"""Package protection rules over REST, with python-gitlab's
`project.package_protection_rules` unchanged, and delete protection on every
delete path: a package, a package file, and the generic DELETE by name."""

from __future__ import annotations

import asyncio
from typing import Any

import gitlab
import pytest

from tests.harness import Gateway, GatewayFactory, Identity

PROTECTED = {"message": "403 Forbidden - Package protected."}


async def test_python_gitlab_manages_rules(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    developer = await gateway.user("developer", project)

    def use() -> None:
        gl = gitlab.Gitlab(gateway.base_url, private_token=maintainer.token)
        rules = gl.projects.get(project["id"], lazy=True).package_protection_rules
        rule = rules.create({"package_name_pattern": "release-*", "package_type": "generic",
                             "minimum_access_level_for_push": "maintainer"})
        assert (rule.package_name_pattern, rule.package_type, rule.minimum_access_level_for_push,
                rule.minimum_access_level_for_delete, rule.project_id) == (
            "release-*", "generic", "maintainer", None, project["id"])
        assert [r.id for r in rules.list()] == [rule.id]

        rule.minimum_access_level_for_delete = "owner"
        rule.save()  # PATCH
        assert rules.list()[0].minimum_access_level_for_delete == "owner"
        updated = rules.update(rule.id, {"minimum_access_level_for_push": ""})  # unset
        assert updated["minimum_access_level_for_push"] is None

        with pytest.raises(gitlab.exceptions.GitlabCreateError) as taken:
            rules.create({"package_name_pattern": "release-*", "package_type": "generic",
                          "minimum_access_level_for_push": "owner"})
        assert taken.value.response_code == 422
        with pytest.raises(gitlab.exceptions.GitlabCreateError) as bad_type:
            rules.create({"package_name_pattern": "x", "package_type": "npm",
                          "minimum_access_level_for_push": "owner"})
        assert bad_type.value.response_code == 400

        as_developer = gitlab.Gitlab(gateway.base_url, private_token=developer.token)
        with pytest.raises(gitlab.exceptions.GitlabListError) as forbidden:
            as_developer.projects.get(project["id"], lazy=True).package_protection_rules.list()
        assert forbidden.value.response_code == 403

        rules.delete(rule.id)
        assert rules.list() == []
        with pytest.raises(gitlab.exceptions.GitlabDeleteError) as gone:
            rules.delete(rule.id)
        assert gone.value.response_code == 404

    await asyncio.to_thread(use)


@pytest.mark.parametrize(("body", "error"), [
    ({"package_type": "generic", "minimum_access_level_for_push": "owner"},
     "package_name_pattern is missing"),
    ({"package_name_pattern": "a", "minimum_access_level_for_push": "owner"},
     "package_type is missing"),
    ({"package_name_pattern": "a", "package_type": "generic"},
     "minimum_access_level_for_push, minimum_access_level_for_delete are missing, "
     "at least one parameter must be provided"),
    ({"package_name_pattern": "a", "package_type": "generic",
      "minimum_access_level_for_push": "developer"},
     "minimum_access_level_for_push does not have a valid value"),
    ({"package_name_pattern": "a", "package_type": "generic",
      "minimum_access_level_for_delete": "guest"},
     "minimum_access_level_for_delete does not have a valid value"),
])
async def test_rule_parameter_errors(gateway_factory: GatewayFactory, body: dict[str, Any],
                                     error: str) -> None:
    gateway = await gateway_factory("fs")
    maintainer = await gateway.user("maintainer", await gateway.project())
    response = await gateway.client.post(
        f"/api/v4/projects/{maintainer.project_id}/packages/protection/rules", json=body,
        headers=maintainer.headers)
    assert response.status == 400
    assert await response.json() == {"error": error}


async def test_rules_are_the_projects_own(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    mine = await gateway.user("maintainer", await gateway.project())
    theirs = await gateway.user("maintainer", await gateway.project())
    rule = await gateway.admin.add_protection_rule(theirs.project_path, "x", "owner")
    url = f"/api/v4/projects/{mine.project_id}/packages/protection/rules/{rule['id']}"
    assert (await gateway.client.delete(url, headers=mine.headers)).status == 404
    patched = await gateway.client.patch(url, json={"package_name_pattern": "y"}, headers=mine.headers)
    assert patched.status == 404
    assert len(await gateway.admin.list_protection_rules(theirs.project_path)) == 1
    anonymous = await gateway.client.get(
        f"/api/v4/projects/{mine.project_id}/packages/protection/rules")
    assert anonymous.status == 404  # a private project, to anonymous callers of the API


async def _seed(gateway: Gateway, who: Identity, name: str) -> tuple[int, int]:
    assert (await gateway.put(who, b"x", name=name, file_name="f.bin")).status == 201
    async with gateway.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT p.id, max(f.id) AS file_id FROM packages p JOIN package_files f "
            "ON f.package_id = p.id WHERE p.name = $1 AND p.status = 'default' GROUP BY p.id", name)
    return row["id"], row["file_id"]


async def _delete(gateway: Gateway, way: str, headers: dict[str, str], project_id: int,
                  name: str, package_id: int, file_id: int) -> Any:
    base = f"/api/v4/projects/{project_id}/packages"
    url = {"package": f"{base}/{package_id}",
           "package-file": f"{base}/{package_id}/package_files/{file_id}",
           "generic": f"{base}/generic/{name}/1.0.0/f.bin"}[way]
    return await gateway.client.delete(url, headers=headers)


DELETE_CASES = [
    ("maintainer", "maintainer", 204),
    ("owner", "maintainer", 403),
    ("owner", "owner", 204),
    ("admin", "owner", 403),  # GitLab's admin level: above every role here
    (None, "maintainer", 204),  # a push-only rule does not protect deletes
]
# Deploy tokens are read on the generic route only; they never delete protected names.
DELETE_CELLS = [(way, *case) for way in ("package", "package-file", "generic")
                for case in DELETE_CASES] + [("generic", "owner", "deploy", 403)]


@pytest.mark.parametrize(("way", "delete_level", "deleter", "status"), DELETE_CELLS)
async def test_delete_protection(gateway_factory: GatewayFactory, way: str, delete_level: str | None,
                                 deleter: str, status: int) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    owner = await gateway.user("owner", project)
    package_id, file_id = await _seed(gateway, owner, "release-app")
    await gateway.admin.add_protection_rule(project["path"], "release-*",
                                            None if delete_level else "owner", delete_level)
    if deleter == "deploy":
        headers = {"Deploy-Token": await gateway.admin.create_deploy_token(
            project["path"], ["write_package_registry"], None, None)}
    else:
        headers = (await gateway.user(deleter, project)).headers
    response = await _delete(gateway, way, headers, project["id"], "release-app", package_id, file_id)
    assert response.status == status, await response.text()
    if status == 403:
        assert await response.json() == PROTECTED
    async with gateway.pool.acquire() as conn:
        live = await conn.fetchval("SELECT count(*) FROM package_files WHERE status = 'default'")
    assert live == (1 if status == 403 else 0)

    # A name the rule does not match is not protected.
    other_package, other_file = await _seed(gateway, owner, "nightly")
    response = await _delete(gateway, way, headers, project["id"], "nightly", other_package, other_file)
    assert response.status == 204
