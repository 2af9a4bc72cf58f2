"""Package protection rules, as GitLab's: managed over REST and by the admin
CLI, and checked on every delete (pushes are checked in gateway/policy.py).

A rule names a package-name pattern (`*` wildcards) and the minimum role that
may push, delete, or both; `admin` (GitLab's level 60) is above every role here.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.auth import Access
from gateway.db.identity import IdentityRepository
from gateway.errors import Conflict, Forbidden, InvalidParam, ParamError, RecordNotFound, Unprocessable

PROTECTION_LEVELS = {"maintainer": 40, "owner": 50, "admin": 60}
_LEVEL_NAMES = {value: name for name, value in PROTECTION_LEVELS.items()}
PROTECTED_PACKAGE_TYPES = ("generic",)
MAX_PATTERN_LENGTH = 255
LEVEL_FIELDS = ("minimum_access_level_for_push", "minimum_access_level_for_delete")


def rule_json(row: asyncpg.Record) -> dict[str, Any]:
    """GitLab's protection rule entity."""
    return {"id": row["id"], "project_id": row["project_id"],
            "package_name_pattern": row["package_name_pattern"],
            "package_type": row["package_type"],
            "minimum_access_level_for_push": _LEVEL_NAMES.get(row["minimum_access_level_for_push"]),
            "minimum_access_level_for_delete": _LEVEL_NAMES.get(row["minimum_access_level_for_delete"])}


def parse_level(field: str, value: Any, *, allow_unset: bool = False) -> int | None:
    """A level name; on an update "" (or null) unsets it, as GitLab's."""
    if allow_unset and value in ("", None):
        return None
    if not isinstance(value, str) or value not in PROTECTION_LEVELS:
        raise InvalidParam(field)
    return PROTECTION_LEVELS[value]


def parse_pattern(value: Any) -> str:
    if (not isinstance(value, str) or not value.strip() or len(value) > MAX_PATTERN_LENGTH
            or not value.isprintable()):
        raise InvalidParam("package_name_pattern")
    return value


def parse_package_type(value: Any) -> str:
    if value not in PROTECTED_PACKAGE_TYPES:
        raise InvalidParam("package_type")
    return value


def _at_least_one_level() -> ParamError:
    return ParamError(f"{', '.join(LEVEL_FIELDS)} are missing, at least one parameter must be provided")


class ProtectionRules:
    def __init__(self, identity: IdentityRepository) -> None:
        self._identity = identity

    async def list(self, project_id: int) -> list[dict[str, Any]]:
        return [rule_json(row) for row in await self._identity.protection_rules(project_id)]

    async def create(self, project_id: int, params: dict[str, Any]) -> dict[str, Any]:
        for required in ("package_name_pattern", "package_type"):
            if params.get(required) is None:
                raise ParamError(f"{required} is missing")
        pattern = parse_pattern(params["package_name_pattern"])
        parse_package_type(params["package_type"])
        push, delete = (parse_level(field, params[field]) if params.get(field) is not None else None
                        for field in LEVEL_FIELDS)
        if push is None and delete is None:
            raise _at_least_one_level()
        try:
            row = await self._identity.add_protection_rule(project_id, pattern, push, delete)
        except Conflict:
            raise Unprocessable("Package name pattern has already been taken") from None
        return rule_json(row)

    async def update(self, project_id: int, rule_id: int, params: dict[str, Any]) -> dict[str, Any]:
        """Only the fields sent change; a level sent as "" is unset."""
        rule = await self._identity.find_protection_rule(project_id, rule_id)
        if rule is None:
            raise RecordNotFound()
        pattern = parse_pattern(params["package_name_pattern"]) \
            if "package_name_pattern" in params else None
        if "package_type" in params:
            parse_package_type(params["package_type"])
        push, delete = ((parse_level(field, params[field], allow_unset=True),) if field in params
                        else None for field in LEVEL_FIELDS)
        new_push = push[0] if push else rule["minimum_access_level_for_push"]
        new_delete = delete[0] if delete else rule["minimum_access_level_for_delete"]
        if new_push is None and new_delete is None:
            raise Unprocessable("A rule must have at least a minimum access role for push or delete.")
        try:
            row = await self._identity.update_protection_rule(project_id, rule_id, pattern, push,
                                                              delete)
        except Conflict:
            raise Unprocessable("Package name pattern has already been taken") from None
        if row is None:
            raise RecordNotFound()
        return rule_json(row)

    async def delete(self, project_id: int, rule_id: int) -> None:
        if await self._identity.remove_protection_rule(rule_id, project_id) is None:
            raise RecordNotFound()

    async def check_delete(self, access: Access, package_name: str) -> None:
        """403 when a rule protects this name from deletes by this actor; deploy
        tokens carry no role, so any matching rule stops them."""
        level = None if access.actor.kind == "deploy" else access.level
        if await self._identity.delete_protected(access.project.id, package_name, level):
            raise Forbidden("Package protected.")
