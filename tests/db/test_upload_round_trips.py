"""The statements one successful upload sends to the database."""

from __future__ import annotations

import os
from typing import Any

from tests.harness import GatewayFactory

RESET = "pg_advisory_unlock_all"  # asyncpg's reset, which the gateway's pool skips here


async def test_the_upload_check_is_one_statement(gateway_factory: GatewayFactory) -> None:
    """Protection rules and the namespace's duplicate settings in one round trip
    (they were two, each with a pool reset after it; tests/db/test_session.py
    pins the whole upload's statements)."""
    gateway = await gateway_factory("fs", db_pool_min=10, db_pool_max=10)
    dev = await gateway.developer()
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(" ".join(record.query.split()))

    # Every connection exists from the start (min = max): all are watched.
    connections = [holder._con for holder in gateway.pool._holders if holder._con is not None]
    assert len(connections) == 10
    for conn in connections:
        conn.add_query_logger(log)
    try:
        assert (await gateway.put(dev, os.urandom(4096))).status == 201
    finally:
        for conn in connections:
            conn.remove_query_logger(log)

    policy = [q for q in sent if "package_protection_rules" in q or "FROM groups" in q]
    assert len(policy) == 1
    assert "generic_duplicates_allowed" in policy[0]
    assert any("INSERT INTO upload_intents" in q for q in sent)
    assert not [q for q in sent if RESET in q]
