"""Users, groups, projects, memberships and access tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import asyncpg

from gateway.db.base import Repository
from gateway.errors import Conflict, InvalidField
from gateway.models import AccessLevel, Group, Project, User


MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class AccessToken:
    id: int
    kind: str  # personal, deploy, job
    user_id: int | None
    username: str | None
    project_id: int | None
    digest: bytes
    scopes: tuple[str, ...]
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    ci_pipeline_id: int | None = None
    ci_job_id: int | None = None


class IdentityRepository(Repository):
    async def _find_by_ref(self, ref: str, by_id: str, by_path: str,
                           *args: object) -> asyncpg.Record | None:
        """`ref` is a numeric id or a full path, matched case-insensitively."""
        if ref.isascii() and ref.isdigit():
            return await self.fetchrow(by_id, int(ref), *args) if int(ref) <= MAX_BIGINT else None
        return await self.fetchrow(by_path, ref, *args)

    async def find_project(self, ref: str) -> Project | None:
        row = await self._find_by_ref(ref, "find_project_by_id", "find_project_by_path")
        return Project.from_row(row) if row else None

    async def find_project_with_level(self, ref: str,
                                      user_id: int | None) -> tuple[Project | None, AccessLevel | None]:
        """The project and the user's role in it, in one round trip."""
        row = await self._find_by_ref(ref, "find_project_by_id_with_level",
                                      "find_project_by_path_with_level", user_id)
        if row is None:
            return None, None
        level = row["access_level"]
        return Project.from_row(row), AccessLevel(level) if level is not None else None

    async def create_project(self, path: str, visibility: str) -> Project:
        """The project and every group above it, in one transaction."""
        segments = path.split("/")
        try:
            async with self.transaction() as conn:
                parent_id = None
                for depth in range(1, len(segments)):
                    group = await conn.fetchrow(self.query("upsert_group"),
                                                "/".join(segments[:depth]), parent_id)
                    parent_id = group["id"]
                row = await conn.fetchrow(self.query("insert_project"), path, visibility, parent_id)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"project {path} already exists") from None
        except asyncpg.CheckViolationError:
            raise InvalidField("path") from None
        return Project.from_row(row)

    async def create_group(self, path: str) -> Group:
        segments = path.split("/")
        try:
            async with self.transaction() as conn:
                parent_id, row = None, None
                for depth in range(1, len(segments) + 1):
                    row = await conn.fetchrow(self.query("upsert_group"),
                                              "/".join(segments[:depth]), parent_id)
                    parent_id = row["id"]
        except asyncpg.CheckViolationError:
            raise InvalidField("path") from None
        assert row is not None
        return Group.from_row(row)

    async def find_group(self, ref: str) -> Group | None:
        row = await self._find_by_ref(ref, "find_group_by_id", "find_group_by_path")
        return Group.from_row(row) if row else None

    async def find_group_by_path(self, path: str) -> Group | None:
        row = await self.fetchrow("find_group_by_path", path)
        return Group.from_row(row) if row else None

    async def group_projects_visible_to(self, group_id: int, user_id: int | None, *,
                                        include_subgroups: bool) -> list[int]:
        rows = await self.fetch("group_projects_visible_to", group_id, not include_subgroups, user_id)
        return [row["id"] for row in rows]

    async def projects_with_level(self, user_id: int, project_ids: list[int],
                                  minimum: AccessLevel) -> list[int]:
        rows = await self.fetch("projects_with_level", user_id, project_ids, int(minimum))
        return [row["project_id"] for row in rows]

    async def project_in_group(self, group_id: int, project_id: int, *, include_subgroups: bool) -> bool:
        return await self.fetchval("project_in_group", group_id, not include_subgroups, project_id)

    async def update_group_settings(self, group_id: int, duplicates_allowed: bool | None,
                                    exception_regex: str | None) -> Group:
        row = await self.fetchrow("update_group_settings", group_id, duplicates_allowed,
                                  exception_regex)
        assert row is not None
        return Group.from_row(row)

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

    async def create_token(self, kind: str, *, digest: bytes, name: str, scopes: list[str],
                           user_id: int | None = None, project_id: int | None = None,
                           expires_at: dt.datetime | None = None, ci_pipeline_id: int | None = None,
                           ci_job_id: int | None = None) -> asyncpg.Record:
        try:
            row = await self.fetchrow("insert_access_token", kind, user_id, project_id, name, digest,
                                      scopes, expires_at, ci_pipeline_id, ci_job_id)
        except asyncpg.CheckViolationError:
            raise InvalidField("scopes") from None
        assert row is not None
        return row

    async def find_token(self, digest: bytes) -> AccessToken | None:
        row = await self.fetchrow("find_access_token", digest)
        if row is None:
            return None
        return AccessToken(row["id"], row["kind"], row["user_id"], row["username"],
                           row["project_id"], row["token_digest"], tuple(row["scopes"]),
                           row["expires_at"], row["revoked_at"], row["last_used_at"],
                           row["ci_pipeline_id"], row["ci_job_id"])

    async def touch_token(self, token_id: int) -> None:
        await self.execute("touch_access_token", token_id)

    async def revoke_token(self, token_id: int) -> asyncpg.Record | None:
        return await self.fetchrow("revoke_access_token", token_id)

    async def list_tokens(self, user_id: int | None, project_id: int | None) -> list[asyncpg.Record]:
        return await self.fetch("list_access_tokens", user_id, project_id)

    async def add_protection_rule(self, project_id: int, pattern: str, push: int | None,
                                  delete: int | None) -> asyncpg.Record:
        try:
            row = await self.fetchrow("insert_protection_rule", project_id, pattern, push, delete)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a rule for {pattern!r} already exists") from None
        except asyncpg.CheckViolationError:
            raise InvalidField("package_name_pattern") from None
        assert row is not None
        return row

    async def protection_rules(self, project_id: int) -> list[asyncpg.Record]:
        return await self.fetch("list_protection_rules", project_id)

    async def find_protection_rule(self, project_id: int, rule_id: int) -> asyncpg.Record | None:
        return await self.fetchrow("find_protection_rule", project_id, rule_id)

    async def update_protection_rule(self, project_id: int, rule_id: int, pattern: str | None,
                                     push: tuple[int | None] | None,
                                     delete: tuple[int | None] | None) -> asyncpg.Record | None:
        """`push`/`delete`: None keeps the level, `(level,)` sets it (None unsets)."""
        try:
            return await self.fetchrow(
                "update_protection_rule", project_id, rule_id, pattern,
                push[0] if push else None, delete[0] if delete else None,
                push is not None, delete is not None)
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a rule for {pattern!r} already exists") from None
        except asyncpg.CheckViolationError:
            raise InvalidField("package_name_pattern") from None

    async def remove_protection_rule(self, rule_id: int,
                                     project_id: int | None = None) -> asyncpg.Record | None:
        return await self.fetchrow("delete_protection_rule", rule_id, project_id)

    async def delete_protected(self, project_id: int, package_name: str,
                               level: AccessLevel | None) -> bool:
        """Whether a rule stops this delete; a None level (deploy tokens) meets every rule."""
        return await self._protected(project_id, package_name, level, "delete")

    async def _protected(self, project_id: int, package_name: str, level: AccessLevel | None,
                         action: str) -> bool:
        rule = await self.fetchval("find_protection", project_id, package_name,
                                   int(level) if level is not None else None, action)
        return rule is not None

    async def find_user_by_id(self, user_id: int) -> User | None:
        row = await self.fetchrow("find_user_by_id", user_id)
        return User.from_row(row) if row else None

    async def group_projects_seen_by(self, group_id: int, user_id: int | None) -> list[asyncpg.Record]:
        return await self.fetch("group_projects_seen_by", group_id, user_id)

    async def group_has_public_project(self, group_id: int) -> bool:
        return await self.fetchval("group_has_public_project", group_id)

    async def record_pipeline(self, pipeline_id: int, project_id: int, ref: str | None,
                              sha: str | None, user_id: int) -> bool:
        """False when the id is another project's pipeline."""
        try:
            return await self.fetchval("upsert_ci_pipeline", pipeline_id, project_id, ref, sha,
                                       user_id) is not None
        except asyncpg.CheckViolationError:
            raise InvalidField("pipeline") from None

    async def push_policy(self, project_id: int, namespace_id: int, package_name: str,
                          level: AccessLevel | None) -> tuple[bool, bool, str]:
        """Whether a protection rule stops this push, and the namespace's duplicate
        settings, in one query: (protected, duplicates allowed, exception regex)."""
        row = await self.fetchrow("find_push_policy", project_id, package_name,
                                  int(level) if level is not None else None, namespace_id)
        assert row is not None
        return (row["protected"], row["generic_duplicates_allowed"],
                row["generic_duplicate_exception_regex"])
