"""Users, projects, memberships and personal access tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from gateway.db.base import Repository
from gateway.errors import Conflict, InvalidField
from gateway.models import AccessLevel, Project, User


@dataclass(frozen=True)
class PersonalToken:
    id: int
    user_id: int
    username: str
    digest: bytes
    scopes: tuple[str, ...]
    expires_at: dt.date | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class IdentityRepository(Repository):
    async def find_project(self, ref: str) -> Project | None:
        """`ref` is a numeric id or a full path, matched case-insensitively."""
        if ref.isdigit():
            row = await self.fetchrow("find_project_by_id", int(ref))
        else:
            row = await self.fetchrow("find_project_by_path", ref)
        return Project.from_row(row) if row else None

    async def create_project(self, path: str, visibility: str) -> Project:
        try:
            row = await self.fetchrow("insert_project", path, visibility)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"project {path} already exists") from None
        except asyncpg.CheckViolationError:
            raise InvalidField("path") from None
        assert row is not None
        return Project.from_row(row)

    async def find_user(self, username: str) -> User | None:
        row = await self.fetchrow("find_user_by_username", username)
        return User.from_row(row) if row else None

    async def create_user(self, username: str) -> User:
        try:
            row = await self.fetchrow("insert_user", username)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"user {username} already exists") from None
        except asyncpg.CheckViolationError:
            raise InvalidField("username") from None
        assert row is not None
        return User.from_row(row)

    async def set_membership(self, project_id: int, user_id: int, level: AccessLevel) -> asyncpg.Record:
        row = await self.fetchrow("upsert_membership", project_id, user_id, int(level))
        assert row is not None
        return row

    async def access_level(self, project_id: int, user_id: int) -> AccessLevel | None:
        level = await self.fetchval("find_access_level", project_id, user_id)
        return AccessLevel(level) if level is not None else None

    async def create_personal_token(self, user_id: int, name: str, digest: bytes,
                                    scopes: list[str], expires_at: dt.date | None) -> asyncpg.Record:
        try:
            row = await self.fetchrow("insert_personal_token", user_id, name, digest, scopes, expires_at)
        except asyncpg.CheckViolationError:
            raise InvalidField("scopes") from None
        assert row is not None
        return row

    async def find_personal_token(self, digest: bytes) -> PersonalToken | None:
        row = await self.fetchrow("find_personal_token", digest)
        if row is None:
            return None
        return PersonalToken(row["id"], row["user_id"], row["username"], row["token_digest"],
                             tuple(row["scopes"]), row["expires_at"], row["revoked_at"],
                             row["last_used_at"])

    async def touch_personal_token(self, token_id: int) -> None:
        await self.execute("touch_personal_token", token_id)
