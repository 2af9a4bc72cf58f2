"""Administration: projects, groups, users, memberships, tokens, protection rules.

Called by the `gateway admin` CLI; returns plain dicts that the CLI prints as JSON
(token creation returns the token itself, the only time it is ever shown).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.api.serializers import timestamp
from gateway.auth import DEPLOY_SCOPES, PERSONAL_SCOPES, generate_token, token_digest
from gateway.db.identity import IdentityRepository
from gateway.db.inventory import InventoryRepository
from gateway.errors import BadRequest, NotFound
from gateway.models import AccessLevel, Group, Project, User
from gateway.policy import compile_exception_regex
from gateway.protection import PROTECTION_LEVELS, parse_pattern, rule_json as rest_rule_json
MAX_JOB_TOKEN_LIFETIME = dt.timedelta(days=7)
_DURATION_RE = re.compile(r"\A(\d+)([smhd])\Z")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SHA_RE = re.compile(r"\A[0-9a-f]{7,64}\Z")


class AdminError(BadRequest):
    pass


@dataclass(frozen=True)
class CiPipeline:
    """What `token create-job` is told about the job's pipeline."""

    pipeline_id: int
    ref: str | None = None
    sha: str | None = None
    job_id: int | None = None


def parse_duration(text: str, *, allow_zero: bool = False) -> dt.timedelta:
    """`90s`, `30m`, `1h`, `2d`."""
    match = _DURATION_RE.match(text.strip())
    if not match or (int(match.group(1)) == 0 and not allow_zero):
        raise AdminError(f"not a duration such as 30m, 1h or 2d: {text!r}")
    return dt.timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])


def project_json(project: Project) -> dict[str, Any]:
    return {"id": project.id, "path": project.path, "visibility": project.visibility,
            "namespace_id": project.namespace_id, "created_at": timestamp(project.created_at)}


def group_json(group: Group) -> dict[str, Any]:
    return {"id": group.id, "path": group.path, "parent_id": group.parent_id,
            "generic_duplicates_allowed": group.generic_duplicates_allowed,
            "generic_duplicate_exception_regex": group.generic_duplicate_exception_regex,
            "created_at": timestamp(group.created_at)}


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "created_at": timestamp(user.created_at)}


def token_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "name": row["name"], "user_id": row["user_id"],
            "project_id": row["project_id"], "scopes": list(row["scopes"]),
            "expires_at": timestamp(row["expires_at"]), "revoked_at": timestamp(row["revoked_at"]),
            "last_used_at": timestamp(row["last_used_at"]), "created_at": timestamp(row["created_at"])}


def rule_json(row: asyncpg.Record) -> dict[str, Any]:
    return {**rest_rule_json(row), "created_at": timestamp(row["created_at"])}


def _scopes(scopes: list[str], allowed: tuple[str, ...]) -> list[str]:
    unknown = sorted(set(scopes) - set(allowed))
    if not scopes or unknown:
        raise AdminError(f"scopes must be among {', '.join(allowed)}"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    return sorted(set(scopes))


def _expiry(expires_at: dt.date | None) -> dt.datetime | None:
    """A date expiry, as GitLab's: the token stops working at midnight UTC that day."""
    if expires_at is None:
        return None
    if expires_at <= dt.datetime.now(dt.UTC).date():
        raise AdminError("expires-at must be a future date")
    return dt.datetime.combine(expires_at, dt.time(), dt.UTC)


def member_json(row: asyncpg.Record) -> dict[str, Any]:
    level = AccessLevel(row["access_level"])
    return {"user_id": row["user_id"], "username": row["username"], "access_level": int(level),
            "role": level.name.lower(), "created_at": timestamp(row["created_at"])}


class Admin:
    def __init__(self, identity: IdentityRepository,
                 inventory: InventoryRepository | None = None) -> None:
        self.identity = identity
        self._inventory = inventory

    @classmethod
    def for_pool(cls, pool: asyncpg.Pool) -> Admin:
        return cls(IdentityRepository(pool), InventoryRepository(pool))

    @property
    def inventory(self) -> InventoryRepository:
        assert self._inventory is not None, "listing needs Admin.for_pool()"
        return self._inventory

    # -- lookups -----------------------------------------------------------------
    async def project(self, ref: str) -> Project:
        project = await self.identity.find_project(ref)
        if project is None:
            raise NotFound("Project")
        return project

    async def user(self, username: str) -> User:
        user = await self.identity.find_user(username)
        if user is None:
            raise NotFound("User")
        return user

    async def group(self, path: str) -> Group:
        """By path only: a group may be named `2024`, which is not an id here."""
        group = await self.identity.find_group_by_path(path.strip("/"))
        if group is None:
            raise NotFound("Group")
        return group

    # -- projects, groups, users, members ---------------------------------------
    async def create_project(self, path: str, public: bool) -> dict[str, Any]:
        project = await self.identity.create_project(path.strip("/"), "public" if public else "private")
        return project_json(project)

    async def create_group(self, path: str) -> dict[str, Any]:
        return group_json(await self.identity.create_group(path.strip("/")))

    async def group_settings(self, path: str, duplicates_allowed: bool | None,
                             exception_regex: str | None) -> dict[str, Any]:
        group = await self.group(path)
        if exception_regex:
            compile_exception_regex(exception_regex)  # refuse what would not compile, now
        updated = await self.identity.update_group_settings(group.id, duplicates_allowed,
                                                            exception_regex)
        return group_json(updated)

    async def create_user(self, username: str) -> dict[str, Any]:
        return user_json(await self.identity.create_user(username))

    async def add_member(self, project_ref: str, username: str, role: str) -> dict[str, Any]:
        try:
            level = AccessLevel.from_name(role)
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        project, user = await self.project(project_ref), await self.user(username)
        row = await self.identity.set_membership(project.id, user.id, level)
        return {"project_id": project.id, "project_path": project.path, "user_id": user.id,
                "username": user.username, "access_level": row["access_level"],
                "role": level.name.lower(), "created_at": timestamp(row["created_at"])}

    # -- listings ------------------------------------------------------------------
    async def list_projects(self) -> list[dict[str, Any]]:
        return [project_json(Project.from_row(row)) for row in await self.inventory.projects()]

    async def list_users(self) -> list[dict[str, Any]]:
        return [user_json(User.from_row(row)) for row in await self.inventory.users()]

    async def list_members(self, project_ref: str) -> list[dict[str, Any]]:
        project = await self.project(project_ref)
        return [member_json(row) for row in await self.inventory.members(project.id)]

    async def list_packages(self, project_ref: str) -> list[dict[str, Any]]:
        project = await self.project(project_ref)
        return [{"id": row["id"], "name": row["name"], "version": row["version"],
                 "package_type": row["package_type"], "status": row["status"],
                 "file_count": row["file_count"], "size": row["size"],
                 "created_at": timestamp(row["created_at"])}
                for row in await self.inventory.packages(project.id)]

    async def usage(self) -> list[dict[str, Any]]:
        return [dict(row) for row in await self.inventory.usage()]

    # -- tokens --------------------------------------------------------------------
    async def create_personal_token(self, username: str, scopes: list[str], name: str | None,
                                    expires_at: dt.date | None) -> str:
        scopes = _scopes(scopes, PERSONAL_SCOPES)
        expiry = _expiry(expires_at)
        user = await self.user(username)
        return await self._issue("personal", name=name or "gateway-cli", scopes=scopes,
                                 user_id=user.id, expires_at=expiry)

    async def create_deploy_token(self, project_ref: str, scopes: list[str], name: str | None,
                                  expires_at: dt.date | None) -> str:
        scopes = _scopes(scopes, DEPLOY_SCOPES)
        expiry = _expiry(expires_at)
        project = await self.project(project_ref)
        return await self._issue("deploy", name=name or "deploy-token", scopes=scopes,
                                 project_id=project.id, expires_at=expiry)

    async def create_job_token(self, project_ref: str, username: str, expires_in: dt.timedelta,
                               pipeline: CiPipeline | None = None) -> str:
        """`pipeline`: the CI pipeline and job the token is for; files pushed with
        it record them, and the package lists the pipeline."""
        if expires_in > MAX_JOB_TOKEN_LIFETIME:
            raise AdminError("a job token lives at most 7 days")
        project, user = await self.project(project_ref), await self.user(username)
        if await self.identity.access_level(project.id, user.id) is None:
            raise AdminError(f"{user.username} is not a member of {project.path}")
        if pipeline is not None and pipeline.sha is not None and not _SHA_RE.match(pipeline.sha):
            raise AdminError("sha must be a commit id: 7 to 64 lower-case hex digits")
        if pipeline is not None and pipeline.ref is not None and not 0 < len(pipeline.ref) <= 255:
            raise AdminError("ref must be 1 to 255 characters")
        if pipeline is not None and not await self.identity.record_pipeline(
                pipeline.pipeline_id, project.id, pipeline.ref, pipeline.sha, user.id):
            raise AdminError(f"pipeline {pipeline.pipeline_id} belongs to another project")
        return await self._issue("job", name="ci-job", scopes=["job"], user_id=user.id,
                                 project_id=project.id,
                                 expires_at=dt.datetime.now(dt.UTC) + expires_in,
                                 ci_pipeline_id=pipeline.pipeline_id if pipeline else None,
                                 ci_job_id=pipeline.job_id if pipeline else None)

    async def _issue(self, kind: str, **fields: Any) -> str:
        """Store a new token's digest; the secret is returned once, never stored."""
        secret = generate_token(kind)
        await self.identity.create_token(kind, digest=token_digest(secret), **fields)
        return secret

    async def revoke_token(self, token_id: int) -> dict[str, Any]:
        row = await self.identity.revoke_token(token_id)
        if row is None:
            raise NotFound("Token")
        return token_json(row)

    async def list_tokens(self, username: str | None, project_ref: str | None) -> list[dict[str, Any]]:
        user_id = (await self.user(username)).id if username else None
        project_id = (await self.project(project_ref)).id if project_ref else None
        return [token_json(row) for row in await self.identity.list_tokens(user_id, project_id)]

    # -- protection rules ----------------------------------------------------------
    async def add_protection_rule(self, project_ref: str, pattern: str, minimum: str | None,
                                  minimum_for_delete: str | None = None) -> dict[str, Any]:
        levels = []
        for what, name in (("push", minimum), ("delete", minimum_for_delete)):
            if name is not None and name not in PROTECTION_LEVELS:
                raise AdminError(f"minimum access level for {what} must be one of "
                                 f"{', '.join(PROTECTION_LEVELS)}")
            levels.append(PROTECTION_LEVELS[name] if name else None)
        if levels == [None, None]:
            raise AdminError("give a minimum access level for push, for delete, or both")
        parse_pattern(pattern)
        project = await self.project(project_ref)
        row = await self.identity.add_protection_rule(project.id, pattern, *levels)
        return rule_json(row)

    async def list_protection_rules(self, project_ref: str) -> list[dict[str, Any]]:
        project = await self.project(project_ref)
        return [rule_json(row) for row in await self.identity.protection_rules(project.id)]

    async def remove_protection_rule(self, rule_id: int) -> dict[str, Any]:
        row = await self.identity.remove_protection_rule(rule_id)
        if row is None:
            raise NotFound("Protection rule")
        return rule_json(row)
