"""A package's History tab: pushes and deletions, newest first.

They come from the package events table (issue 10: `package_events`, one row
per push or deletion with the actor, token kind, file and digest). Until that
table exists this returns nothing and the tab says so; the template block
`history` in package.html is the only place that shows it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from aiohttp import web

from gateway.models import Package


@dataclass(frozen=True)
class HistoryEntry:
    kind: str
    created_at: dt.datetime
    actor_kind: str | None
    actor_name: str | None
    file_name: str | None
    size: int | None
    file_sha256: str | None
    ref: str | None


async def package_history(app: web.Application, package: Package) -> list[HistoryEntry]:
    """No events are recorded yet: issue 10 adds the table and fills this in."""
    return []
