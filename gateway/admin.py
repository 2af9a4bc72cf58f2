"""Administration: create projects, users, memberships and tokens.

Called by the `gateway admin` CLI; returns plain dicts that the CLI prints as JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.api.serializers import timestamp
from gateway.auth import PERSONAL_TOKEN_PREFIX, SCOPES, generate_token, token_digest
from gateway.db.identity import IdentityRepository
from gateway.errors import BadRequest, NotFound
from gateway.models import AccessLevel, Project, User


class AdminError(BadRequest):
    pass


def project_json(project: Project) -> dict[str, Any]:
    return {"id": project.id, "path": project.path, "visibility": project.visibility,
            "created_at": timestamp(project.created_at)}


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "created_at": timestamp(user.created_at)}


class Admin:
    def __init__(self, identity: IdentityRepository) -> None:
        self.identity = identity

    async def create_project(self, path: str, public: bool) -> dict[str, Any]:
        project = await self.identity.create_project(path.strip("/"), "public" if public else "private")
        return project_json(project)

    async def create_user(self, username: str) -> dict[str, Any]:
        return user_json(await self.identity.create_user(username))

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

    async def create_personal_token(self, username: str, scopes: list[str], name: str | None,
                                    expires_at: dt.date | None) -> str:
        unknown = sorted(set(scopes) - set(SCOPES))
        if not scopes or unknown:
            raise AdminError(f"scopes must be among {', '.join(SCOPES)}"
                             + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
        if expires_at is not None and expires_at <= dt.date.today():
            raise AdminError("expires-at must be a future date")
        user = await self.user(username)
        secret = generate_token(PERSONAL_TOKEN_PREFIX)
        await self.identity.create_personal_token(user.id, name or "gateway-cli", token_digest(secret),
                                                  sorted(set(scopes)), expires_at)
        return secret
