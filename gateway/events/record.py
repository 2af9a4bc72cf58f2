"""Writing an event, and the deliveries it queues, in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from gateway.db.queries import QUERIES

FILE_PUSHED = "package_file_pushed"
FILE_DELETED = "package_file_deleted"
PACKAGE_DELETED = "package_deleted"
FILE_VERIFIED = "package_file_verified"
EVENT_KINDS = (FILE_PUSHED, FILE_DELETED, PACKAGE_DELETED, FILE_VERIFIED)


@dataclass(frozen=True)
class Origin:
    """Who caused an event and from where; CI provenance when the credential carries it."""

    actor_kind: str | None
    actor_name: str | None
    actor_token_id: int | None
    client_address: str | None = None
    pipeline_id: int | None = None
    ref: str | None = None
    sha: str | None = None
    job_id: int | None = None

    @classmethod
    def of(cls, actor: Any, client_address: str | None) -> Origin:
        """From an authenticated actor (gateway.auth.Actor); a CI job token brings
        its pipeline and job (their ref and sha are looked up with the event)."""
        return cls(actor.record_kind, actor.name, actor.token_id, client_address,
                   pipeline_id=getattr(actor, "ci_pipeline_id", None),
                   job_id=getattr(actor, "ci_job_id", None))


@dataclass(frozen=True)
class Event:
    kind: str
    project_id: int
    package_id: int
    package_name: str
    package_version: str
    origin: Origin
    file_id: int | None = None
    file_name: str | None = None
    size: int | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    gated: bool = False

    @classmethod
    def for_file(cls, kind: str, project_id: int, row: Any, origin: Origin, *,
                 gated: bool = False) -> Event:
        """From a package-file row that also carries `package_name`/`package_version`."""
        return cls(kind, project_id, row["package_id"], row["package_name"], row["package_version"],
                   origin, file_id=row["id"], file_name=row["file_name"], size=row["size"],
                   md5=row["file_md5"], sha1=row["file_sha1"], sha256=row["file_sha256"],
                   gated=gated)


async def record(conn: asyncpg.Connection, event: Event) -> uuid.UUID:
    """Write the event and queue a delivery for each hook that wants it, on the
    caller's connection and inside its transaction. Listening gateway processes
    are notified when that transaction commits (never if it rolls back)."""
    if event.kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {event.kind!r}")
    event_id = uuid.uuid4()
    origin = event.origin
    queued = await conn.fetchval(
        QUERIES["insert_package_event"], event_id, event.kind, event.project_id, event.package_id,
        event.package_name, event.package_version, event.file_id, event.file_name, event.size,
        event.md5, event.sha1, event.sha256, event.gated, origin.actor_kind, origin.actor_name,
        origin.actor_token_id, origin.pipeline_id, origin.ref, origin.sha, origin.job_id,
        origin.client_address,
    )
    if queued:
        await conn.execute(QUERIES["notify_hook_deliveries"])
    return event_id
