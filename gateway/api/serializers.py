"""JSON shapes, as GitLab's API entities render them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.models import Package, PackageFile


def timestamp(value: dt.datetime | None) -> str | None:
    """GitLab's form: `2021-10-12T12:05:23.387Z`."""
    if value is None:
        return None
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def package_file(record: PackageFile) -> dict[str, Any]:
    return {
        "id": record.id,
        "package_id": record.package_id,
        "created_at": timestamp(record.created_at),
        "file_name": record.file_name,
        "size": record.size,
        "file_md5": record.file_md5,
        "file_sha1": record.file_sha1,
        "file_sha256": record.file_sha256,
    }


def package_file_full(record: PackageFile, download_path: str) -> dict[str, Any]:
    """The `select=package_file` answer: the whole record, verification fields null."""
    return {
        **package_file(record),
        "updated_at": timestamp(record.updated_at),
        "file_store": record.file_store,
        "file": {"url": download_path},
        "verification_retry_at": None,
        "verified_at": None,
        "verification_failure": None,
        "verification_retry_count": None,
        "verification_checksum": None,
        "verification_state": None,
        "verification_started_at": None,
        "new_file_path": None,
    }


def package(record: Package, *, base_url: str, can_delete: bool,
            in_group: bool = False, pipeline: dict[str, Any] | None = None) -> dict[str, Any]:
    """GitLab's package entity. `web_path` only for packages with details to show
    (not hidden); `delete_api_path` only for callers who may delete; `pipeline`,
    the latest that pushed to it, when there is one, and then `pipelines` empty
    as GitLab's (the list is `GET .../packages/:id/pipelines`)."""
    links: dict[str, str] = {}
    if record.status == "default":
        links["web_path"] = f"/{record.project_path}/-/packages/{record.id}"
    if can_delete:
        links["delete_api_path"] = f"{base_url}/api/v4/projects/{record.project_id}/packages/{record.id}"
    body: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "version": record.version,
        "package_type": record.package_type,
        "status": record.status,
        "_links": links,
        "created_at": timestamp(record.created_at),
        "last_downloaded_at": timestamp(record.last_downloaded_at),
        "tags": [],
    }
    if in_group:
        body["project_id"] = record.project_id
        body["project_path"] = record.project_path
    if pipeline is not None:
        body["pipeline"] = pipeline
        body["pipelines"] = []
    return body


def package_version(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "version": row["version"], "created_at": timestamp(row["created_at"]),
            "tags": []}
