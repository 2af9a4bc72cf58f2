"""Named queries loaded from queries.sql: `QUERIES["find_project_by_id"]`."""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    pieces = _HEADER.split(text)
    for name, body in zip(pieces[1::2], pieces[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name} is defined twice")
        queries[name] = body.strip()
    return queries


QUERIES = parse_queries(resources.files("gateway.db").joinpath("queries.sql").read_text())
