"""Query and path parameters coerced as GitLab's Grape declarations coerce them:
`type: Integer` and `type: Boolean` refuse what they cannot read with
`{"error": "<param> is invalid"}`."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web

from gateway.db.identity import MAX_BIGINT
from gateway.errors import GatewayError, InvalidField

# Ruby's Integer(value, 10), which Grape's Integer coercion calls: ASCII digits,
# a sign, underscores between digits, whitespace around.
_INTEGER_RE = re.compile(r"\A[ \t\n\v\f\r]*[+-]?[0-9]+(?:_[0-9]+)*[ \t\n\v\f\r]*\Z")
# dry-types' Params::Bool, which Grape's Boolean coercion uses.
_TRUE = frozenset({"1", "on", "On", "ON", "t", "true", "True", "TRUE", "T", "y", "yes", "Yes",
                   "YES", "Y"})
_FALSE = frozenset({"0", "off", "Off", "OFF", "f", "false", "False", "FALSE", "F", "n", "no",
                    "No", "NO", "N"})


def integer(raw: str, param: str) -> int:
    if not _INTEGER_RE.match(raw):
        raise InvalidField(param)
    return int(raw)


def optional_integer(request: web.Request, param: str) -> int | None:
    """An optional Integer query parameter; empty is absent, as in Grape."""
    raw = request.query.get(param)
    return None if raw is None or raw == "" else integer(raw, param)


def boolean(request: web.Request, param: str) -> bool | None:
    """An optional Boolean query parameter; empty is absent, as in Grape."""
    raw = request.query.get(param)
    if raw is None or raw == "":
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidField(param)


def path_id(request: web.Request, segment: str, *, missing: Callable[[], GatewayError],
            param: str | None = None) -> int:
    """An id in the path (Grape's `requires :<param>, type: Integer`). Grape takes
    any integer; beyond PostgreSQL's bigint no row has it, so the lookup's own
    not-found answer (`missing`) is given without asking the database."""
    value = integer(request.match_info[segment], param or segment)
    if not -MAX_BIGINT - 1 <= value <= MAX_BIGINT:
        raise missing()
    return value
