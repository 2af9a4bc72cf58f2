"""Numbered SQL migrations from `sql/`, applied in order and recorded.

A migration never changes once applied: its checksum is recorded, and a changed
file stops the gateway at start instead of silently diverging.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import asyncpg

from gateway.db.session_state import holds_session_state
from gateway.errors import DatabaseError

_FILE_RE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any fixed number: one migrating process at a time, across every gateway.
_LOCK_KEY = 0x6761746577  # "gatew"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    packaged = resources.files("gateway").joinpath("migrations")
    if packaged.is_dir():  # a built wheel carries sql/ as gateway/migrations
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "sql"  # a source checkout


def load_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_RE.match(path.name)
        if not match:
            raise MigrationError(f"migration file name {path.name} is not NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations are numbered {version:04d}")
        found[version] = Migration(version, path.name, path.read_text())
    if not found:
        raise MigrationError(f"no migrations found in {folder}")
    return [found[v] for v in sorted(found)]


async def apply_migrations(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    migrations = load_migrations(folder)
    applied_now: list[str] = []
    try:
        holds_session_state(conn)
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version     integer PRIMARY KEY,
                       name        text NOT NULL,
                       checksum    text NOT NULL,
                       applied_at  timestamptz NOT NULL DEFAULT now())"""
            )
            rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
            applied = {row["version"]: row for row in rows}
            known = {m.version for m in migrations}
            unknown = sorted(set(applied) - known)
            if unknown:
                raise MigrationError(
                    f"database has migration {applied[unknown[0]]['name']} that this gateway "
                    "does not know; it is older than the database"
                )
            for migration in migrations:
                row = applied.get(migration.version)
                if row is not None:
                    if row["checksum"] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.name} changed after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version, migration.name, migration.checksum,
                    )
                applied_now.append(migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    except (asyncpg.PostgresError, OSError) as exc:
        raise DatabaseError(f"migrating: {exc}") from exc
    return applied_now
