from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from gateway.errors import DatabaseError
from gateway.db.migrate import MigrationError, apply_migrations, load_migrations, migrations_dir


def test_migrations_are_numbered_files() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations_dir().name == "sql"


async def fresh_database(database_factory: Callable[[], Awaitable[str]]) -> asyncpg.Connection:
    conn = await asyncpg.connect(await database_factory())
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    return conn


async def test_apply_is_idempotent_and_safe_to_race(database_factory: Callable[[], Awaitable[str]]) -> None:
    url = await database_factory()
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        await first.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        applied = await asyncio.gather(apply_migrations(first), apply_migrations(second))
        names = [m.name for m in load_migrations()]
        assert sorted(applied[0] + applied[1]) == names  # each applied exactly once
        assert await apply_migrations(first) == []
        assert await first.fetchval("SELECT count(*) FROM schema_migrations") == len(names)
    finally:
        await first.close()
        await second.close()


async def test_changed_migration_is_refused(database_factory: Callable[[], Awaitable[str]],
                                             tmp_path: Path) -> None:
    conn = await fresh_database(database_factory)
    try:
        folder = tmp_path / "sql"
        folder.mkdir()
        (folder / "0001_first.sql").write_text("CREATE TABLE t (id int);")
        assert await apply_migrations(conn, folder) == ["0001_first.sql"]
        (folder / "0001_first.sql").write_text("CREATE TABLE t (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await apply_migrations(conn, folder)
        (folder / "0001_first.sql").write_text("CREATE TABLE t (id int);")
        (folder / "0002_broken.sql").write_text("CREATE TABLE u (id int); SELECT nonsense();")
        with pytest.raises(DatabaseError):
            await apply_migrations(conn, folder)
        # A failed migration leaves nothing half-applied.
        assert await conn.fetchval("SELECT to_regclass('u')") is None
    finally:
        await conn.close()


def test_bad_file_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_short.sql").write_text("")
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        load_migrations(tmp_path)


async def test_access_model_migration_keeps_existing_data(
        database_factory: Callable[[], Awaitable[str]], tmp_path: Path) -> None:
    """0002 on a database that already has projects and personal tokens."""
    conn = await fresh_database(database_factory)
    try:
        only_first = tmp_path / "sql"
        only_first.mkdir()
        first = load_migrations()[0]
        (only_first / first.name).write_text(first.sql)
        await apply_migrations(conn, only_first)
        await conn.execute("""
            INSERT INTO projects (path, visibility) VALUES ('a/b/app', 'private'), ('A/tool', 'public');
            INSERT INTO users (username) VALUES ('alice');
            INSERT INTO personal_access_tokens (user_id, name, token_digest, scopes, expires_at)
            VALUES (1, 'ci', '\\x01', ARRAY['api'], '2099-01-02');
        """)
        await apply_migrations(conn)
        # "A" and "a" are one group: paths are case-insensitive, as in GitLab.
        groups = {r["path"].lower(): r["parent_id"]
                  for r in await conn.fetch("SELECT path, parent_id FROM groups")}
        assert set(groups) == {"a", "a/b"}
        assert groups["a"] is None and groups["a/b"] is not None
        namespaces = {p: g.lower() for p, g in await conn.fetch(
            "SELECT p.path, g.path FROM projects p JOIN groups g ON g.id = p.namespace_id")}
        assert namespaces == {"a/b/app": "a/b", "A/tool": "a"}
        token = await conn.fetchrow("SELECT * FROM access_tokens")
        assert (token["id"], token["kind"], token["user_id"]) == (1, "personal", 1)
        assert token["expires_at"].isoformat() == "2099-01-02T00:00:00+00:00"
        new_id = await conn.fetchval(
            "INSERT INTO access_tokens (kind, user_id, name, token_digest, scopes) "
            "VALUES ('personal', 1, 'n', '\\x02', ARRAY['api']) RETURNING id")
        assert new_id == 2
    finally:
        await conn.close()
