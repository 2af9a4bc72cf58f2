"""Who may use the package-events routes (the events list, hooks and their
deliveries, the verification gate, verify, a file shown or downloaded by id), on a
private and a public project. They belong to the Packages API, so each credential
gets the answer it gets there (tests/api/test_packages_api_access.py): deploy
tokens are not read (the request is anonymous), an anonymous caller gets 404 on a
private project and 403 where a public project needs a role, and only a credential
that was sent and is invalid is 401. A refused change changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.test_access_matrix import PROXY_SECRET, credential_request
from tests.events.conftest import add_hook
from tests.events.test_gate import base, push, set_gate
from tests.harness import Gateway, GatewayFactory, Identity

OK = 0  # the route's own success code (200, 201 or 204)


@dataclass(frozen=True)
class Row:
    """Expected codes, each as (private project, public project)."""

    credential: str
    events: tuple[int, int]  # GET …/packages/events: reporter and up, public projects too
    file: tuple[int, int]  # a file's record, and a verified file downloaded by id: list-level
    manage: tuple[int, int]  # hooks, their deliveries and the gate: maintainer and up
    verify: tuple[int, int]  # verify, and downloading a file still waiting: maintainer or own job


AS_ANONYMOUS = {"events": (404, 403), "file": (404, 200), "manage": (404, 403), "verify": (404, 403)}
MEMBER = {"events": (200, 200), "file": (200, 200), "manage": (403, 403), "verify": (403, 403)}
MAINTAINER = {"events": (200, 200), "file": (200, 200), "manage": (OK, OK), "verify": (OK, OK)}

MATRIX = [
    Row("none", **AS_ANONYMOUS),
    Row("bad", events=(401, 401), file=(401, 401), manage=(401, 401), verify=(401, 401)),
    Row("personal-non-member", **AS_ANONYMOUS),
    Row("personal-guest", events=(403, 403), file=(403, 200), manage=(403, 403), verify=(403, 403)),
    Row("personal-reporter", **MEMBER),
    Row("personal-api", **MEMBER),  # a developer
    Row("personal-maintainer", **MAINTAINER),
    # Deploy tokens are not read on the Packages API: anonymous, whatever their scopes.
    Row("deploy-read", **AS_ANONYMOUS),
    Row("deploy-write", **AS_ANONYMOUS),
    # A job of the project acts with its user's role (a developer), and may verify.
    Row("job-own-project", **{**MEMBER, "verify": (OK, OK)}),
    # In another project a job token reads what anonymous callers may.
    Row("job-other-project", **AS_ANONYMOUS),
    Row("proxy-maintainer", **MAINTAINER),
    # In the query string, and a job token as the OAuth bearer token.
    Row("personal-private_token-param", **MEMBER),
    Row("personal-access_token-param", **MEMBER),
    Row("job-job_token-param", **{**MEMBER, "verify": (OK, OK)}),
    Row("job-bearer", **{**MEMBER, "verify": (OK, OK)}),
    Row("bad-private_token-param", events=(401, 401), file=(401, 401), manage=(401, 401),
        verify=(401, 401)),
    # Looked up as a personal token here (deploy tokens are not read): unknown, 401.
    Row("deploy-bearer", events=(401, 401), file=(401, 401), manage=(401, 401), verify=(401, 401)),
]

CELLS = [(row, visibility) for row in MATRIX for visibility in ("private", "public")]


async def expect(gateway: Gateway, method: str, path: str, sent: tuple[dict[str, str], dict[str, str]],
                 expected: int, success: int = 200, body: Any = None) -> Any:
    """The request, with `sent` (headers, query parameters), answers `expected`
    (`OK`: `success`); a refusal in GitLab's shapes."""
    headers, params = sent
    response = await gateway.client.request(method, path, headers=headers, params=params, json=body)
    wanted = success if expected == OK else expected
    assert response.status == wanted, (method, path, await response.text())
    if wanted == 404:
        assert await response.json() == {"message": "404 Project Not Found"}
    elif wanted >= 400:
        assert "message" in await response.json()
    return response


async def current_state(gateway: Gateway, seeder: Identity, pending: dict[str, Any]) -> Any:
    """What the routes under test may change, as the project's maintainer sees it."""
    def get(path: str) -> Any:
        return gateway.client.get(f"{base(seeder)}/{path}", headers=seeder.headers)
    hooks = await (await get("hooks")).json()
    gate = await (await get("verification_gate")).json()
    record = await (await get(f"{pending['package_id']}/package_files/{pending['id']}")).json()
    return [h["id"] for h in hooks], gate["enabled"], gate["package_name_patterns"], record["status"]


@pytest.mark.parametrize(("row", "visibility"), CELLS,
                         ids=[f"{row.credential}-{visibility}" for row, visibility in CELLS])
async def test_package_events_matrix(gateway_factory: GatewayFactory, row: Row,
                                     visibility: str) -> None:
    gateway = await gateway_factory("fs", trusted_proxy_secret=PROXY_SECRET, allow_local_hooks=True)
    project = await gateway.project(public=visibility == "public")
    seeder = await gateway.user("maintainer", project)
    live = await push(gateway, seeder, b"verified build", file_name="live.bin")
    # Deletions only: nothing here deletes, so no delivery is ever attempted.
    hook = await add_hook(gateway, seeder, "http://127.0.0.1:9/hook", events=["package_deleted"])
    await set_gate(gateway, seeder)
    pending = await push(gateway, seeder, b"waiting build", file_name="waiting.bin")
    before = await current_state(gateway, seeder, pending)
    sent = await credential_request(gateway, project, row.credential)
    pick = 0 if visibility == "private" else 1
    events, file, manage, verify = (row.events[pick], row.file[pick], row.manage[pick],
                                    row.verify[pick])
    packages = base(seeder)
    pending_file = f"{packages}/{pending['package_id']}/package_files/{pending['id']}"

    listed = await expect(gateway, "GET", f"{packages}/events", sent, events)
    if events == 200:
        assert [e["package_file"]["id"] for e in await listed.json()] == [pending["id"], live["id"]]
    shown = await expect(gateway, "GET", pending_file, sent, file)
    if file == 200:
        assert (await shown.json())["status"] == "processing"
    download = f"{packages}/{live['package_id']}/package_files/{live['id']}/download"
    downloaded = await expect(gateway, "GET", download, sent, file)
    if file == 200:
        assert await downloaded.read() == b"verified build"

    waiting = await expect(gateway, "GET", f"{pending_file}/download", sent, verify)
    if verify == OK:
        assert await waiting.read() == b"waiting build"
    await expect(gateway, "POST", f"{pending_file}/verify", sent, verify,
                 body={"status": "passed"})

    hooks = f"{packages}/hooks"
    for path in (hooks, f"{hooks}/{hook['id']}/deliveries", f"{packages}/verification_gate"):
        await expect(gateway, "GET", path, sent, manage)
    await expect(gateway, "POST", hooks, sent, manage, success=201,
                 body={"url": "http://127.0.0.1:9/other", "events": ["package_deleted"]})
    await expect(gateway, "PUT", f"{packages}/verification_gate", sent, manage,
                 body={"package_name_patterns": ["release-*"]})
    await expect(gateway, "DELETE", f"{hooks}/{hook['id']}", sent, manage, success=204)

    hook_ids, gate_on, patterns, status = await current_state(gateway, seeder, pending)
    assert status == ("default" if verify == OK else "processing")
    if manage == OK:
        assert len(hook_ids) == 1 and hook_ids != before[0]  # one added, the first removed
        assert (gate_on, patterns) == (True, ["release-*"])
        await expect(gateway, "DELETE", f"{packages}/verification_gate", sent, manage, success=204)
        assert (await current_state(gateway, seeder, pending))[1] is False
    else:
        assert (hook_ids, gate_on, patterns) == before[:3]
        await expect(gateway, "DELETE", f"{packages}/verification_gate", sent, manage, success=204)
        assert (await current_state(gateway, seeder, pending))[1] is True
