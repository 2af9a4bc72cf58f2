"""JSON shapes, as GitLab's API entities render them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.models import PackageFile


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
