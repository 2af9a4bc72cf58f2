"""The audit trail over REST and the admin CLI: what is recorded, who may read it."""

from __future__ import annotations

import datetime as dt
import json

from tests.harness import Gateway, Identity
from tests.serve_process import clean_env, gateway_cli


def events_path(who: Identity) -> str:
    return f"/api/v4/projects/{who.project_id}/packages/events"


async def list_events(gateway: Gateway, who: Identity | None, **params: str) -> list[dict]:
    response = await gateway.client.get(events_path(who) if who else "", params=params,
                                        headers=who.headers if who else {})
    assert response.status == 200, await response.text()
    return await response.json()


async def test_pushes_and_deletions_are_recorded_newest_first(gateway: Gateway) -> None:
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    reporter = await gateway.user("reporter", project)
    for file_name in ("a.bin", "b.bin"):
        assert (await gateway.put(maintainer, b"content", name="tool", file_name=file_name)).status == 201
    assert (await gateway.put(maintainer, b"other", name="lib")).status == 201
    packages = await (await gateway.client.get(f"/api/v4/projects/{project['id']}/packages",
                                               headers=maintainer.headers)).json()
    tool, lib = packages
    files = await (await gateway.client.get(
        f"/api/v4/projects/{project['id']}/packages/{tool['id']}/package_files",
        headers=maintainer.headers)).json()
    base = f"/api/v4/projects/{project['id']}/packages"
    assert (await gateway.client.delete(f"{base}/{tool['id']}/package_files/{files[0]['id']}",
                                        headers=maintainer.headers)).status == 204
    assert (await gateway.client.delete(f"{base}/{lib['id']}", headers=maintainer.headers)).status == 204

    events = await list_events(gateway, reporter)
    assert [(e["kind"], e["package"]["name"]) for e in events] == [
        ("package_deleted", "lib"), ("package_file_deleted", "tool"),
        ("package_file_pushed", "lib"), ("package_file_pushed", "tool"),
        ("package_file_pushed", "tool")]
    deleted_file = events[1]["package_file"]
    assert deleted_file["id"] == files[0]["id"] and deleted_file["file_name"] == "a.bin"
    assert deleted_file["file_sha256"] == files[0]["file_sha256"] and deleted_file["size"] == 7
    assert events[0]["package_file"] is None and events[0]["package"]["id"] == lib["id"]
    for event in events:
        assert event["actor"]["name"] == maintainer.username and event["actor"]["kind"] == "user"
        assert event["actor"]["token_id"] is not None
        assert event["client_address"] == "127.0.0.1"
        assert event["project"] == {"id": project["id"], "path": project["path"]}
    assert len({e["id"] for e in events}) == 5

    only_pushes = await list_events(gateway, reporter, kind="package_file_pushed", package_name="tool")
    assert [e["package_file"]["file_name"] for e in only_pushes] == ["b.bin", "a.bin"]
    assert await list_events(gateway, reporter, after=events[0]["created_at"]) == []
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    assert len(await list_events(gateway, reporter, after=earlier)) == 5

    page = await gateway.client.get(events_path(reporter), params={"per_page": "2", "page": "2"},
                                    headers=reporter.headers)
    assert page.headers["X-Total"] == "5" and page.headers["X-Next-Page"] == "3"
    assert [e["id"] for e in await page.json()] == [e["id"] for e in events[2:4]]


async def test_who_may_read_the_events(gateway: Gateway) -> None:
    public = await gateway.project(public=True)
    guest = await gateway.user("guest", public)
    developer = await gateway.user("developer", public)
    assert (await gateway.client.get(events_path(guest), headers=guest.headers)).status == 403
    # Anonymous: a role is needed on a public project too, as for a guest (Packages API: 403).
    assert (await gateway.client.get(events_path(guest))).status == 403
    assert (await gateway.client.get(events_path(developer), headers=developer.headers)).status == 200
    stranger = await gateway.developer()
    response = await gateway.client.get(events_path(stranger).replace(
        f"/{stranger.project_id}/", f"/{(await gateway.project())['id']}/"), headers=stranger.headers)
    assert response.status == 404  # a private project of someone else
    for params in ({"kind": "nope"}, {"after": "yesterday"}, {"per_page": "0"}):
        response = await gateway.client.get(events_path(developer), params=params,
                                            headers=developer.headers)
        assert response.status == 400, params


async def test_admin_events_prints_json_lines(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    assert (await gateway_cli("admin", "project", "create", "team/app", env=env))[0] == 0
    code, out, err = await gateway_cli("admin", "events", "--project", "team/app", env=env)
    assert (code, out, err) == (0, "", "")

    # Record two events the way an upload and a delete do, on the CLI's database.
    import asyncpg

    from gateway.events import Event, Origin, record

    conn = await asyncpg.connect(database_url)
    try:
        origin = Origin("user", "alice", 7, "10.0.0.1")
        async with conn.transaction():
            await record(conn, Event("package_file_pushed", 1, 5, "tool", "1.0", origin,
                                     file_id=9, file_name="a.bin", size=3, md5="m", sha1="s",
                                     sha256="h"))
        async with conn.transaction():
            await record(conn, Event("package_deleted", 1, 5, "tool", "1.0", origin))
    finally:
        await conn.close()

    code, out, _ = await gateway_cli("admin", "events", "--project", "team/app", env=env)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["kind"] for e in lines] == ["package_deleted", "package_file_pushed"]
    assert lines[1]["package_file"]["download_url"] == "/api/v4/projects/1/packages/generic/tool/1.0/a.bin"
    code, out, _ = await gateway_cli("admin", "events", "--project", "team/app", "--kind",
                                     "package_deleted", env=env)
    assert [json.loads(line)["kind"] for line in out.splitlines()] == ["package_deleted"]


async def test_an_event_rolls_back_with_its_change(gateway: Gateway) -> None:
    """record() runs in the caller's transaction: no change, no event."""
    from gateway.events import Event, Origin, record

    project = await gateway.project()
    async with gateway.pool.acquire() as conn:
        try:
            async with conn.transaction():
                await record(conn, Event("package_deleted", project["id"], 1, "p", "1",
                                         Origin(None, None, None)))
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass
        assert await conn.fetchval("SELECT count(*) FROM package_events") == 0
