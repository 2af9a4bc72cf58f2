"""An event as JSON: the webhook payload, and an item of the events list."""

from __future__ import annotations

from typing import Any

from gateway.api.serializers import timestamp
from gateway.events.record import FILE_PUSHED, FILE_VERIFIED
from gateway.validation import generic_file_path


def file_download_path(project_id: int, package_id: int, file_id: int) -> str:
    """One file by id, verified or not: what a verification pipeline fetches."""
    return f"/api/v4/projects/{project_id}/packages/{package_id}/package_files/{file_id}/download"


def event_json(row: Any, external_url: str | None, *, with_client: bool = True) -> dict[str, Any]:
    """What a pipeline needs to fetch and check the file. The download URL is
    absolute with GATEWAY_EXTERNAL_URL, else a path; for a gated push it names
    the file by id (the generic path serves only verified files). A receiver does
    not see the client address (the audit list does)."""
    package_file = None
    if row["file_id"] is not None:
        package_file = {
            "id": row["file_id"], "file_name": row["file_name"], "size": row["size"],
            "file_md5": row["file_md5"], "file_sha1": row["file_sha1"],
            "file_sha256": row["file_sha256"], "download_url": None,
        }
        if row["kind"] in (FILE_PUSHED, FILE_VERIFIED):
            if row["kind"] == FILE_PUSHED and row["gated"]:
                path = file_download_path(row["project_id"], row["package_id"], row["file_id"])
            else:
                path = generic_file_path(row["project_id"], row["package_name"],
                                     row["package_version"], row["file_name"])
            package_file["download_url"] = (external_url or "").rstrip("/") + path
    ci = None
    if any(row[name] is not None for name in ("pipeline_id", "ref", "sha", "job_id")):
        ci = {"pipeline_id": row["pipeline_id"], "ref": row["ref"], "sha": row["sha"],
              "job_id": row["job_id"]}
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "kind": row["kind"],
        "created_at": timestamp(row["created_at"]),
        "project": {"id": row["project_id"], "path": row["project_path"]},
        "package": {"id": row["package_id"], "name": row["package_name"],
                    "version": row["package_version"], "package_type": "generic"},
        "package_file": package_file,
        "gated": row["gated"],
        "actor": {"kind": row["actor_kind"], "name": row["actor_name"],
                  "token_id": row["actor_token_id"]},
        "ci": ci,
    }
    if with_client:
        body["client_address"] = row["client_address"]
    return body
