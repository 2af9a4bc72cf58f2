"""`gateway admin hook ...` and `gateway admin gate ...` as real processes."""

from __future__ import annotations

import json

from tests.serve_process import clean_env, gateway_cli


async def test_admin_hooks(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    assert (await gateway_cli("admin", "project", "create", "team/app", env=env))[0] == 0

    code, _, err = await gateway_cli("admin", "hook", "add", "--project", "team/app", "--url",
                                     "http://127.0.0.1:9/hook", env=env)
    assert code == 1 and "loopback or link-local" in err

    local = {**env, "GATEWAY_ALLOW_LOCAL_HOOKS": "true"}
    code, out, _ = await gateway_cli("admin", "hook", "add", "--project", "team/app", "--url",
                                     "http://127.0.0.1:9/hook", "--secret", "do-not-print",
                                     "--events", "package_file_pushed,package_deleted", env=local)
    assert code == 0 and "do-not-print" not in out
    hook = json.loads(out)
    assert hook["events"] == ["package_deleted", "package_file_pushed"] and hook["has_secret"]
    code, _, err = await gateway_cli("admin", "hook", "add", "--project", "team/app", "--url",
                                     "http://127.0.0.1:9/", "--events", "nope", env=local)
    assert code == 1 and "events must be among" in err

    code, out, _ = await gateway_cli("admin", "hook", "list", "--project", "team/app", env=env)
    assert [h["id"] for h in json.loads(out)] == [hook["id"]] and "do-not-print" not in out
    code, out, _ = await gateway_cli("admin", "hook", "deliveries", str(hook["id"]), env=env)
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = await gateway_cli("admin", "hook", "remove", str(hook["id"]), env=env)
    assert code == 0 and json.loads(out)["id"] == hook["id"]
    code, _, err = await gateway_cli("admin", "hook", "remove", str(hook["id"]), env=env)
    assert code == 1 and "404 Hook Not Found" in err


async def test_admin_gate(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    assert (await gateway_cli("admin", "project", "create", "team/app", env=env))[0] == 0
    code, out, _ = await gateway_cli("admin", "gate", "show", "--project", "team/app", env=env)
    assert json.loads(out)["enabled"] is False
    code, out, _ = await gateway_cli("admin", "gate", "set", "--project", "team/app", "--pattern",
                                     "release-*", "--pattern", "rc-*", env=env)
    assert code == 0 and json.loads(out)["package_name_patterns"] == ["rc-*", "release-*"]
    code, out, _ = await gateway_cli("admin", "gate", "show", "--project", "team/app", env=env)
    assert json.loads(out)["enabled"] is True
    code, out, _ = await gateway_cli("admin", "gate", "clear", "--project", "team/app", env=env)
    assert code == 0 and json.loads(out)["enabled"] is False
