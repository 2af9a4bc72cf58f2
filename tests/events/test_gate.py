"""The verification gate: gated files wait, unseen, until a pipeline verifies them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.events.conftest import Receiver, add_hook
from tests.harness import Gateway, Identity, wait_for


def base(who: Identity) -> str:
    return f"/api/v4/projects/{who.project_id}/packages"


async def set_gate(gateway: Gateway, who: Identity, patterns: list[str] | None = None) -> Any:
    response = await gateway.client.put(f"{base(who)}/verification_gate", headers=who.headers,
                                        json={"package_name_patterns": patterns or []})
    assert response.status == 200, await response.text()
    return await response.json()


async def files(gateway: Gateway, who: Identity, package_id: int) -> list[dict[str, Any]]:
    response = await gateway.client.get(f"{base(who)}/{package_id}/package_files", headers=who.headers)
    assert response.status == 200
    return await response.json()


async def verify(gateway: Gateway, headers: dict[str, str], who: Identity, record: dict[str, Any],
                 body: dict[str, Any]) -> Any:
    return await gateway.client.post(
        f"{base(who)}/{record['package_id']}/package_files/{record['id']}/verify",
        headers=headers, json=body)


async def push(gateway: Gateway, who: Identity, content: bytes, **where: str) -> dict[str, Any]:
    response = await gateway.put(who, content, params={"select": "package_file"}, **where)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_gated_file_waits_while_the_previous_one_downloads(gateway: Gateway) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    old = await push(gateway, maintainer, b"old good build")
    assert (await set_gate(gateway, maintainer))["enabled"] is True

    new = await push(gateway, maintainer, b"new unverified build")
    fresh = await push(gateway, maintainer, b"first of its name", file_name="other.bin")
    downloaded = await gateway.get(maintainer)
    assert downloaded.status == 200 and await downloaded.read() == b"old good build"
    waiting = await gateway.get(maintainer, file_name="other.bin")
    assert waiting.status == 404
    assert await waiting.json() == {"message": "404 Package file is awaiting verification"}
    assert [f["id"] for f in await files(gateway, maintainer, old["package_id"])] == [old["id"]]
    record = await (await gateway.client.get(
        f"{base(maintainer)}/{new['package_id']}/package_files/{new['id']}",
        headers=maintainer.headers)).json()
    assert record["status"] == "processing" and record["verification_failure"] is None
    by_id = await gateway.client.get(
        f"{base(maintainer)}/{new['package_id']}/package_files/{new['id']}/download",
        headers=maintainer.headers)  # what the verification pipeline fetches
    assert by_id.status == 200 and await by_id.read() == b"new unverified build"

    passed = await verify(gateway, maintainer.headers, maintainer, new, {"status": "passed"})
    assert passed.status == 200 and (await passed.json())["status"] == "default"
    downloaded = await gateway.get(maintainer)
    assert await downloaded.read() == b"new unverified build"
    assert [f["id"] for f in await files(gateway, maintainer, old["package_id"])] == [
        old["id"], new["id"], ]

    failed = await verify(gateway, maintainer.headers, maintainer, fresh,
                          {"status": "failed", "reason": "checksum mismatch in job 42"})
    assert failed.status == 200
    body = await failed.json()
    assert (body["status"], body["verification_failure"]) == ("error", "checksum mismatch in job 42")
    assert (await gateway.get(maintainer, file_name="other.bin")).status == 404
    assert fresh["id"] not in [f["id"] for f in await files(gateway, maintainer, old["package_id"])]
    again = await verify(gateway, maintainer.headers, maintainer, new, {"status": "passed"})
    assert again.status == 409  # live already

    rejected = f"{base(maintainer)}/{fresh['package_id']}/package_files/{fresh['id']}"
    assert (await gateway.client.delete(rejected, headers=maintainer.headers)).status == 204
    events = await (await gateway.client.get(f"{base(maintainer)}/events",
                                             headers=maintainer.headers)).json()
    assert [(e["kind"], e["package_file"]["id"], e["gated"]) for e in events] == [
        ("package_file_deleted", fresh["id"], False), ("package_file_verified", new["id"], True),
        ("package_file_pushed", fresh["id"], True), ("package_file_pushed", new["id"], True),
        ("package_file_pushed", old["id"], False)]


async def test_who_may_verify(gateway: Gateway) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    developer = await gateway.user("developer", project)
    await set_gate(gateway, maintainer)
    record = await push(gateway, developer, b"bits")

    refused = await verify(gateway, developer.headers, developer, record, {"status": "passed"})
    assert refused.status == 403
    other = await gateway.developer()
    foreign_job = {"JOB-TOKEN": await gateway.admin.create_job_token(
        other.project_path, other.username, dt.timedelta(hours=1))}
    assert (await verify(gateway, foreign_job, developer, record, {"status": "passed"})).status == 404
    # Anonymous on a private project: 404, as on the Packages API.
    assert (await verify(gateway, {}, developer, record, {"status": "passed"})).status == 404
    assert (await gateway.get(developer)).status == 404
    by_id = (f"{base(developer)}/{record['package_id']}/package_files/{record['id']}/download")
    assert (await gateway.client.get(by_id, headers=developer.headers)).status == 403

    job = {"JOB-TOKEN": await gateway.admin.create_job_token(
        project["path"], developer.username, dt.timedelta(hours=1))}
    for bad in ({"status": "maybe"}, {}, {"status": "failed", "reason": "x" * 1001}):
        assert (await verify(gateway, job, developer, record, bad)).status == 400
    assert await (await gateway.client.get(by_id, headers=job)).read() == b"bits"
    accepted = await verify(gateway, job, developer, record, {"status": "passed"})
    assert accepted.status == 200
    assert await (await gateway.get(developer)).read() == b"bits"
    assert await (await gateway.client.get(by_id, headers=developer.headers)).read() == b"bits"


async def test_patterns_limit_the_gate(gateway: Gateway) -> None:
    maintainer = await gateway.user("maintainer", await gateway.project())
    gate = await set_gate(gateway, maintainer, ["release-*"])
    assert gate["package_name_patterns"] == ["release-*"]
    await push(gateway, maintainer, b"a", name="Release-app")
    await push(gateway, maintainer, b"b", name="nightly-app")
    assert (await gateway.get(maintainer, name="Release-app")).status == 404
    assert (await gateway.get(maintainer, name="nightly-app")).status == 200

    cleared = await gateway.client.delete(f"{base(maintainer)}/verification_gate",
                                          headers=maintainer.headers)
    assert cleared.status == 204
    shown = await (await gateway.client.get(f"{base(maintainer)}/verification_gate",
                                            headers=maintainer.headers)).json()
    assert shown["enabled"] is False
    await push(gateway, maintainer, b"c", name="release-two")
    assert (await gateway.get(maintainer, name="release-two")).status == 200


async def test_gate_and_hooks_need_a_maintainer(gateway: Gateway) -> None:
    project = await gateway.project()
    developer = await gateway.user("developer", project)
    for method, path in (("PUT", "verification_gate"), ("DELETE", "verification_gate"),
                         ("GET", "verification_gate"), ("GET", "hooks"), ("POST", "hooks"),
                         ("DELETE", "hooks/1"), ("GET", "hooks/1/deliveries")):
        response = await gateway.client.request(method, f"{base(developer)}/{path}",
                                                headers=developer.headers, json={"url": "http://x"})
        assert response.status == 403, (method, path)


async def test_gated_push_and_verification_are_delivered(gateway_factory: Any,
                                                         receiver: Receiver) -> None:
    from tests.events.conftest import FAST_HOOKS

    gateway = await gateway_factory("fs", **FAST_HOOKS)
    maintainer = await gateway.user("maintainer", await gateway.project())
    await add_hook(gateway, maintainer, receiver.url)
    await set_gate(gateway, maintainer)
    record = await push(gateway, maintainer, b"bits")
    await wait_for(lambda: len(receiver.delivered) == 1)
    pushed = receiver.delivered[0].payload
    assert pushed["gated"] is True
    assert pushed["package_file"]["download_url"] == (
        f"{base(maintainer)}/{record['package_id']}/package_files/{record['id']}/download")
    assert (await verify(gateway, maintainer.headers, maintainer, record,
                         {"status": "passed"})).status == 200
    await wait_for(lambda: len(receiver.delivered) == 2)
    verified = receiver.delivered[1]
    assert verified.headers["X-Gateway-Event"] == "package_file_verified"
    assert verified.payload["package_file"]["id"] == record["id"]
    assert verified.signature_verifies()


async def test_with_duplicates_forbidden_a_file_awaiting_verification_is_taken(
        gateway: Gateway) -> None:
    """Two pushes of one name, both held back, would both go live once verified:
    the second is a duplicate. A rejected file does not hold its name."""
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await gateway.admin.group_settings(maintainer.project_path.rsplit("/", 1)[0], False, None)
    await set_gate(gateway, maintainer)

    waiting = await push(gateway, maintainer, b"build 1")
    again = await gateway.put(maintainer, b"build 2")
    assert again.status == 409
    assert await again.json() == {"message": "409 Conflict - Duplicate package is not allowed"}

    rejected = await verify(gateway, maintainer.headers, maintainer, waiting,
                            {"status": "failed", "reason": "tests failed"})
    assert rejected.status == 200
    fixed = await push(gateway, maintainer, b"build 3")
    assert (await verify(gateway, maintainer.headers, maintainer, fixed,
                         {"status": "passed"})).status == 200
    assert await (await gateway.get(maintainer)).read() == b"build 3"
