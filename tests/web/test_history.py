"""The History tab and the "built from" CI ref, read from issue 10's package events.

Until that issue lands, the table is made here with the columns it specifies;
the gateway checks for it at start.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from tests.harness import Gateway, GatewayFactory
from tests.web.pages import page, push

EVENTS_TABLE = """
CREATE TABLE IF NOT EXISTS package_events (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL,
    project_id bigint NOT NULL,
    package_id bigint,
    package_name text NOT NULL,
    package_version text NOT NULL,
    package_file_id bigint,
    file_name text,
    size bigint,
    file_sha256 text,
    actor_kind text,
    actor_name text,
    token_id bigint,
    pipeline_id bigint,
    ref text,
    sha text,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT_EVENT = """
INSERT INTO package_events (kind, project_id, package_id, package_name, package_version,
                            package_file_id, file_name, size, file_sha256, actor_kind,
                            actor_name, pipeline_id, ref, sha, created_at)
VALUES ($1, $2, $3, 'app', '1.0', $4, $5, 4, $6, $7, $8, $9, $10, $11, now() - $12::interval)
"""


@pytest.fixture
async def gateway(database_url: str, gateway_factory: GatewayFactory) -> Gateway:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(EVENTS_TABLE)
    finally:
        await conn.close()
    return await gateway_factory("fs")


async def test_history_tab_lists_pushes_and_deletions_newest_first(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"data", name="app", version="1.0", file_name="a.bin")
    async with gateway.pool.acquire() as conn:
        await conn.execute(INSERT_EVENT, "push", project["id"], pushed["package_id"], pushed["id"],
                           "a.bin", "ab" * 32, "job", dev.username, 77, "main", "f00d",
                           dt.timedelta(hours=2))
        await conn.execute(INSERT_EVENT, "delete", project["id"], pushed["package_id"],
                           pushed["id"], "<b>a.bin</b>", None, "user", "maintainer1", None,
                           None, None, dt.timedelta(hours=1))
    path = f"/{project['path']}/-/packages/{pushed['package_id']}"
    html = await page(gateway, f"{path}?tab=history")
    assert "No history recorded yet" not in html
    rows = html[html.index('<section class="history">'):]
    assert rows.index(">delete<") < rows.index(">push<")  # newest first
    assert "&lt;b&gt;a.bin&lt;/b&gt;" in rows and "ab" * 32 in rows
    assert '<span class="ref">main</span> <span class="subtle">pipeline 77</span>' in rows
    assert f"{dev.username} <span class=\"subtle\">(job)</span>" in rows
    assert 'title="f00d">Built from <strong>main</strong>' in html

    registry = await page(gateway, f"/{project['path']}/-/packages")
    assert 'title="f00d">Built from <strong>main</strong>' in registry
    assert '<span class="ref" title="CI ref">main</span>' in registry


async def test_no_events_yet_shows_no_history(gateway: Gateway) -> None:
    project = await gateway.project(public=True)
    dev = await gateway.user("developer", project)
    pushed = await push(gateway, dev, b"data")
    html = await page(gateway, f"/{project['path']}/-/packages/{pushed['package_id']}?tab=history")
    assert "No history recorded yet." in html and "Built from" not in html
