from __future__ import annotations

import asyncio
import os
import pwd
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from gateway.embedded import (
    DATABASE_NAME, EmbeddedPostgres, postgres_binary, ensure_database, running_postmaster,
    start_embedded_postgres,
)
from gateway.embedded_access import SERVER_USER
from tests.conftest import private_tmp_dir


async def test_concurrent_first_starts_all_get_the_database(postgres: EmbeddedPostgres) -> None:
    """Gateways and admin commands starting together on a fresh data directory."""
    try:
        await asyncio.gather(*(ensure_database(postgres) for _ in range(6)))
        conn = await asyncpg.connect(postgres.server.get_uri(database=DATABASE_NAME))
        assert await conn.fetchval("SELECT current_database()") == DATABASE_NAME
        await conn.close()
    finally:
        conn = await asyncpg.connect(postgres.server.get_uri())
        await conn.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        await conn.close()


@pytest.fixture
def other_user() -> Iterator[str]:
    """A fresh local user with no relation to the gateway."""
    if os.geteuid() != 0:
        pytest.skip("creating a local user needs root")
    name = f"gwother{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=True)


def run_as(user: str, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    entry = pwd.getpwnam(user)
    return subprocess.run(list(command), user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                          cwd="/", capture_output=True, text=True, env=env, timeout=30)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_another_local_user_cannot_reach_the_database(other_user: str) -> None:
    with private_tmp_dir("gateway-private-") as folder:
        folder.chmod(0o755)  # a folder others may pass through, as a home or /srv would be
        data_dir = folder / ("d" * (119 - len(str(folder))))
        assert len(str(data_dir)) == 120
        modes_before = {parent: mode(parent) for parent in data_dir.parents}
        embedded = await asyncio.to_thread(start_embedded_postgres, data_dir / "postgres")
        try:
            server_uid = pwd.getpwnam(SERVER_USER).pw_uid
            socket_dir = embedded.server.socket_dir
            # The path is too long for a socket inside the cluster: a private folder instead.
            assert socket_dir != data_dir / "postgres" and len(str(socket_dir)) < 40
            assert (mode(socket_dir), socket_dir.stat().st_uid) == (0o700, server_uid)
            password_file = data_dir / "postgres.password"
            assert (mode(password_file), password_file.stat().st_uid) == (0o600, os.geteuid())
            assert mode(data_dir) == 0o710 and data_dir.stat().st_gid == pwd.getpwnam(SERVER_USER).pw_gid
            assert ((mode(data_dir / "postgres"), (data_dir / "postgres").stat().st_uid)
                    == (0o700, server_uid))
            assert {parent: mode(parent) for parent in data_dir.parents} == modes_before
            postmaster = running_postmaster(data_dir / "postgres")
            assert postmaster is not None
            assert postmaster.process.net_connections(kind="inet") == []  # no TCP at all

            psql = str(postgres_binary("psql"))
            target = f"host={socket_dir} port={embedded.server.port} user=postgres dbname=postgres"
            for env in (None, {"PGPASSWORD": embedded.server.password}):  # even with the password
                denied = run_as(other_user, psql, target, "-c", "SELECT 1", env=env)
                assert denied.returncode != 0 and "Permission denied" in denied.stderr
            for command in (["ls", str(data_dir)], ["cat", str(password_file)],
                            ["ls", str(data_dir / "postgres")], ["ls", str(socket_dir)]):
                assert run_as(other_user, *command).returncode != 0, command

            # We get in with the password, and only with it.
            conn = await asyncpg.connect(embedded.server.get_uri())
            assert await conn.fetchval("SELECT current_user") == "postgres"
            await conn.close()
            wrong = embedded.server.get_uri().replace(embedded.server.password, "wrong")
            with pytest.raises(asyncpg.InvalidPasswordError):
                await asyncpg.connect(wrong)
        finally:
            await asyncio.to_thread(embedded.stop)
        assert running_postmaster(data_dir / "postgres") is None
        assert not socket_dir.exists()  # the private socket folder goes with the server


async def test_a_data_directory_of_another_postgres_major_is_refused(tmp_path: Path) -> None:
    from gateway.embedded import server_major_version
    from tests.serve_process import clean_env, gateway_cli

    pgdata = tmp_path / "data" / "postgres"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("15\n")
    running = server_major_version()
    assert running.isdigit() and running != "15"
    code, out, err = await gateway_cli("admin", "project", "list", "--data-dir",
                                       str(tmp_path / "data"), env=clean_env())
    assert code == 1 and out == ""
    line = err.strip().splitlines()[-1]
    assert f"made by PostgreSQL 15, but this gateway runs PostgreSQL {running}" in line
    assert "Traceback" not in err


async def test_a_cluster_without_a_password_file_gets_a_new_password(cluster_dir: Path) -> None:
    """Clusters made before passwords (`trust`), or whose password file was lost."""
    pgdata = cluster_dir / "data" / "postgres"
    first = await asyncio.to_thread(start_embedded_postgres, pgdata)
    old_uri = first.server.get_uri()
    await asyncio.to_thread(first.stop)
    (pgdata.parent / "postgres.password").unlink()

    again = await asyncio.to_thread(start_embedded_postgres, pgdata)
    try:
        assert again.server.password != first.server.password
        assert mode(pgdata.parent / "postgres.password") == 0o600
        conn = await asyncpg.connect(again.server.get_uri())
        await conn.close()
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(old_uri)
    finally:
        await asyncio.to_thread(again.stop)
