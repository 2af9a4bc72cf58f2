"""Named queries loaded from the `.sql` files beside this module:
`QUERIES["find_project_by_id"]`.

Each capability keeps its SQL in a file of its own (`queries.sql` for the core,
others as they come); a name defined twice, in one file or across files, is an
error at import.
"""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(text: str, into: dict[str, str] | None = None) -> dict[str, str]:
    queries = {} if into is None else into
    pieces = _HEADER.split(text)
    for name, body in zip(pieces[1::2], pieces[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name} is defined twice")
        queries[name] = body.strip()
    return queries


def load_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    folder = resources.files("gateway.db")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            parse_queries(entry.read_text(), queries)
    return queries


QUERIES = load_queries()
