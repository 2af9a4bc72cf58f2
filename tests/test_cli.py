"""The `gateway` command as scripts and the README use it, run as real processes."""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
from pathlib import Path

import aiohttp
import psutil

from tests.harness import wait_for
from tests.serve_process import clean_env, free_port, gateway_cli


async def succeeds(*args: str, env: dict[str, str]) -> str:
    """Run a command that must succeed; its stdout, stripped."""
    code, out, err = await gateway_cli(*args, env=env)
    assert code == 0, err
    return out.strip()


async def test_admin_commands_print_json(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    code, out, _ = await gateway_cli("admin", "project", "create", "team/app", "--public", env=env)
    assert code == 0
    project = json.loads(out)
    assert project["path"] == "team/app" and project["visibility"] == "public"

    code, out, _ = await gateway_cli("admin", "user", "create", "alice", env=env)
    assert json.loads(out)["username"] == "alice"

    code, out, _ = await gateway_cli("admin", "member", "add", "--project", "team/app", "--user",
                                     "alice", "--role", "maintainer", env=env)
    member = json.loads(out)
    assert (member["access_level"], member["role"], member["project_id"]) == (40, "maintainer",
                                                                              project["id"])

    code, out, _ = await gateway_cli("admin", "token", "create", "--user", "alice", "--scopes",
                                     "api,read_api", "--name", "ci", "--expires-at", "2099-01-01",
                                     env=env)
    assert code == 0
    assert out.strip().startswith("glpat-") and len(out.strip().splitlines()) == 1


async def test_admin_errors_are_one_line_and_nonzero(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    await gateway_cli("admin", "project", "create", "team/app", env=env)
    code, out, err = await gateway_cli("admin", "project", "create", "team/app", env=env)
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == "gateway: error: 409 Conflict - project team/app already exists"

    code, _, err = await gateway_cli("admin", "token", "create", "--user", "nobody", "--scopes",
                                     "api", env=env)
    assert code == 1
    assert err.strip().splitlines()[-1] == "gateway: error: 404 User Not Found"

    code, _, err = await gateway_cli("admin", "token", "create", "--user", "nobody", "--scopes",
                                     "write", env=env)
    assert code == 1 and "scopes must be among api, read_api" in err


async def test_wrong_setting_fails_with_one_line() -> None:
    code, out, err = await gateway_cli("serve", env=clean_env(GATEWAY_PART_SIZE="huge"))
    assert code == 1 and out == ""
    assert err.strip() == ("gateway: error: GATEWAY_PART_SIZE must be a size such as 8MiB or "
                           "5368709120, got 'huge'")


async def test_serve_with_no_configuration_runs_on_the_embedded_default(cluster_dir: Path) -> None:
    """The README's quick start: `gateway serve` on a fresh machine, nothing configured."""
    tmp_path = cluster_dir
    env, port = clean_env(), free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", "--port", str(port), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async def healthy() -> bool:
                try:
                    async with http.get(f"{base}/-/health") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            for _ in range(300):
                if await healthy():
                    break
                if server.returncode is not None:
                    break
                await asyncio.sleep(0.1)
            # Admin commands join the same embedded cluster and leave it running.
            await gateway_cli("admin", "project", "create", "demo/app", env=env, cwd=tmp_path)
            await gateway_cli("admin", "user", "create", "dev", env=env, cwd=tmp_path)
            await gateway_cli("admin", "member", "add", "--project", "demo/app", "--user", "dev",
                              "--role", "developer", env=env, cwd=tmp_path)
            _, token, _ = await gateway_cli("admin", "token", "create", "--user", "dev",
                                            "--scopes", "api", env=env, cwd=tmp_path)
            url = f"{base}/api/v4/projects/demo%2Fapp/packages/generic/app/1.0.0/app.bin"
            headers = {"PRIVATE-TOKEN": token.strip()}
            async with http.put(url, data=b"release", headers=headers) as response:
                assert response.status == 201
            async with http.get(url, headers=headers) as response:
                assert await response.read() == b"release"
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
        output = await asyncio.wait_for(server.stdout.read(), 30)
        await asyncio.wait_for(server.wait(), 30)
    assert server.returncode == 0, output.decode()
    assert (tmp_path / "gateway-data" / "postgres" / "PG_VERSION").exists()
    assert list((tmp_path / "gateway-data" / "objects").rglob("*"))

    def cluster_running() -> bool:
        pgdata = str((tmp_path / "gateway-data" / "postgres").resolve())
        return any(pgdata in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["name", "cmdline"]) if p.info["name"] == "postgres")

    await wait_for(lambda: not cluster_running(), timeout=20)


async def test_access_model_commands(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    ok = functools.partial(succeeds, env=env)

    await ok("admin", "project", "create", "corp/team/app")
    await ok("admin", "user", "create", "ci")
    await ok("admin", "member", "add", "--project", "corp/team/app", "--user", "ci", "--role", "developer")

    group = json.loads(await ok("admin", "group", "settings", "corp/team", "--duplicates-allowed",
                                "false", "--exception-regex", ".*-SNAPSHOT"))
    assert (group["path"], group["generic_duplicates_allowed"],
            group["generic_duplicate_exception_regex"]) == ("corp/team", False, ".*-SNAPSHOT")
    code, _, err = await gateway_cli("admin", "group", "settings", "corp/team", "--exception-regex",
                                     "(unclosed", env=env)
    assert code == 1 and "not valid RE2 syntax" in err
    code, _, err = await gateway_cli("admin", "group", "settings", "nope", env=env)
    assert code == 1 and "404 Group Not Found" in err
    assert json.loads(await ok("admin", "group", "create", "other/sub"))["path"] == "other/sub"

    deploy = await ok("admin", "token", "create-deploy", "--project", "corp/team/app", "--scopes",
                      "read_package_registry,write_package_registry", "--name", "release")
    job = await ok("admin", "token", "create-job", "--project", "corp/team/app", "--user", "ci",
                   "--expires-in", "30m")
    assert deploy.startswith("gldt-") and job.startswith("glcbt-")
    code, _, err = await gateway_cli("admin", "token", "create-job", "--project", "corp/team/app",
                                     "--user", "ci", "--expires-in", "soon", env=env)
    assert code == 1 and "not a duration" in err

    tokens = json.loads(await ok("admin", "token", "list", "--project", "corp/team/app"))
    assert [(t["kind"], t["name"]) for t in tokens] == [("deploy", "release"), ("job", "ci-job")]
    assert all("digest" not in json.dumps(t) for t in tokens)
    revoked = json.loads(await ok("admin", "token", "revoke", str(tokens[0]["id"])))
    assert revoked["id"] == tokens[0]["id"] and revoked["revoked_at"] is not None
    code, _, err = await gateway_cli("admin", "token", "revoke", "999999", env=env)
    assert code == 1 and "404 Token Not Found" in err

    rule = json.loads(await ok("admin", "protection", "add", "--project", "corp/team/app",
                               "--pattern", "app-*", "--minimum-access-level-for-push", "maintainer"))
    assert (rule["package_name_pattern"], rule["minimum_access_level_for_push"]) == ("app-*", "maintainer")
    listed = json.loads(await ok("admin", "protection", "list", "--project", "corp/team/app"))
    assert [r["id"] for r in listed] == [rule["id"]]
    assert json.loads(await ok("admin", "protection", "remove", str(rule["id"])))["id"] == rule["id"]
    assert json.loads(await ok("admin", "protection", "list", "--project", "corp/team/app")) == []


async def test_numeric_group_paths_and_huge_ids(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    await gateway_cli("admin", "group", "create", "acme", env=env)
    code, out, _ = await gateway_cli("admin", "group", "create", "1", env=env)
    assert code == 0
    code, out, _ = await gateway_cli("admin", "group", "settings", "1", "--duplicates-allowed",
                                     "false", env=env)
    assert json.loads(out)["path"] == "1"  # by path, not the group whose id is 1
    code, _, err = await gateway_cli("admin", "token", "revoke", str(2**64), env=env)
    assert code == 1 and err.strip().splitlines()[-1].startswith("gateway: error: 400")


async def test_version_prints_the_package_version() -> None:
    from gateway import __version__

    code, out, _ = await gateway_cli("--version", env=clean_env())
    assert code == 0
    assert out.strip() == f"gateway {__version__}"


async def test_job_token_pipeline_and_delete_protection_options(database_url: str) -> None:
    env = clean_env(GATEWAY_DATABASE_URL=database_url)
    ok = functools.partial(succeeds, env=env)

    await ok("admin", "project", "create", "corp/app")
    await ok("admin", "user", "create", "ci")
    await ok("admin", "member", "add", "--project", "corp/app", "--user", "ci", "--role", "developer")
    job = await ok("admin", "token", "create-job", "--project", "corp/app", "--user", "ci",
                   "--pipeline-id", "501", "--ref", "main", "--sha", "abc1234", "--job-id", "9001")
    assert job.startswith("glcbt-")
    code, _, err = await gateway_cli("admin", "token", "create-job", "--project", "corp/app",
                                     "--user", "ci", "--ref", "main", env=env)
    assert code == 1 and "need --pipeline-id" in err
    code, _, err = await gateway_cli("admin", "token", "create-job", "--project", "corp/app",
                                     "--user", "ci", "--pipeline-id", "0", env=env)
    assert code == 2 and "not a positive number" in err

    rule = json.loads(await ok("admin", "protection", "add", "--project", "corp/app", "--pattern",
                               "app-*", "--minimum-access-level-for-delete", "admin"))
    assert (rule["minimum_access_level_for_push"], rule["minimum_access_level_for_delete"]) == (
        None, "admin")
    code, _, err = await gateway_cli("admin", "protection", "add", "--project", "corp/app",
                                     "--pattern", "x", env=env)
    assert code == 1 and "minimum access level" in err
