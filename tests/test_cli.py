"""The `gateway` command as scripts and the README use it, run as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import psutil

from tests.harness import wait_for


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(extra)
    return env


async def gateway_cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_serve_with_no_configuration_runs_on_the_embedded_default(tmp_path: Path) -> None:
    """The README's quick start: `gateway serve` on a fresh machine, nothing configured."""
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
                assert server.returncode is None, await server.stdout.read()
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
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)
    assert server.returncode == 0
    assert (tmp_path / "gateway-data" / "postgres" / "PG_VERSION").exists()
    assert list((tmp_path / "gateway-data" / "objects").rglob("*"))

    def cluster_running() -> bool:
        pgdata = str((tmp_path / "gateway-data" / "postgres").resolve())
        return any(pgdata in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["name", "cmdline"]) if p.info["name"] == "postgres")

    await wait_for(lambda: not cluster_running(), timeout=20)
