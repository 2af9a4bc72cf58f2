"""GitLab's entities for the resources clients touch besides packages:
version, user, project, group, and a package's CI pipeline."""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway import __version__
from gateway.api.serializers import timestamp
from gateway.models import Group, Project, User

# The GitLab release whose package routes this gateway answers as (the package
# file download route is GitLab 18.4's).
GITLAB_VERSION = "18.4.0"


def version() -> dict[str, Any]:
    return {"version": GITLAB_VERSION, "revision": f"gateway-{__version__}",
            "kas": {"enabled": False, "externalUrl": None, "externalK8sProxyUrl": None,
                    "version": None},
            "enterprise": False}


def user_basic(user_id: int, username: str, base_url: str) -> dict[str, Any]:
    return {"id": user_id, "username": username, "name": username, "state": "active",
            "locked": False, "avatar_url": None, "web_url": f"{base_url}/{username}"}


def user(record: User, base_url: str) -> dict[str, Any]:
    """The current user (`GET /user`), with what exists here."""
    return {**user_basic(record.id, record.username, base_url),
            "created_at": timestamp(record.created_at), "bot": False, "bio": "",
            "public_email": None, "two_factor_enabled": False, "external": False}


def _last_segment(path: str) -> str:
    return path.rsplit("/", 1)[-1]


def namespace(group: Group, base_url: str) -> dict[str, Any]:
    return {"id": group.id, "name": _last_segment(group.path), "path": _last_segment(group.path),
            "kind": "group", "full_path": group.path, "parent_id": group.parent_id,
            "avatar_url": None, "web_url": f"{base_url}/groups/{group.path}"}


def project(record: Project, group: Group, base_url: str) -> dict[str, Any]:
    name = _last_segment(record.path)
    web_url = f"{base_url}/{record.path}"
    return {
        "id": record.id,
        "description": None,
        "name": name,
        "name_with_namespace": " / ".join(record.path.split("/")),
        "path": name,
        "path_with_namespace": record.path,
        "created_at": timestamp(record.created_at),
        "default_branch": None,
        "tag_list": [],
        "topics": [],
        "http_url_to_repo": f"{web_url}.git",
        "web_url": web_url,
        "readme_url": None,
        "avatar_url": None,
        "forks_count": 0,
        "star_count": 0,
        "last_activity_at": timestamp(record.created_at),
        "namespace": namespace(group, base_url),
        "visibility": record.visibility,
        "packages_enabled": True,
        "package_registry_access_level": "enabled",
        "empty_repo": True,
        "archived": False,
    }


def group(record: Group, visibility: str, base_url: str) -> dict[str, Any]:
    return {
        "id": record.id,
        "web_url": f"{base_url}/groups/{record.path}",
        "name": _last_segment(record.path),
        "path": _last_segment(record.path),
        "description": "",
        "visibility": visibility,
        "full_name": " / ".join(record.path.split("/")),
        "full_path": record.path,
        "parent_id": record.parent_id,
        "created_at": timestamp(record.created_at),
        "avatar_url": None,
        "packages_enabled": True,
    }


def pipeline(row: asyncpg.Record, project_path: str, *, base_url: str,
             external_url: str | None) -> dict[str, Any]:
    """GitLab's package pipeline entity. What the job token was not told is null:
    iid and status are not known here; web_url only when GATEWAY_EXTERNAL_URL
    names the GitLab the pipeline ran on."""
    return {
        "id": row["id"],
        "iid": None,
        "project_id": row["project_id"],
        "sha": row["sha"],
        "ref": row["ref"],
        "status": None,
        "source": None,
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["created_at"]),
        "web_url": (f"{external_url.rstrip('/')}/{project_path}/-/pipelines/{row['id']}"
                    if external_url else None),
        "user": (user_basic(row["user_id"], row["username"], base_url)
                 if row["user_id"] is not None else None),
    }
