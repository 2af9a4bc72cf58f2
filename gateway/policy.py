"""What an upload must pass besides access: package protection rules and the
group's duplicate settings, checked before any byte is stored."""

from __future__ import annotations

import functools
from typing import Any

import re2

from gateway.auth import Access
from gateway.db.identity import IdentityRepository
from gateway.db.packages import PackageRepository
from gateway.errors import BadRequest, DuplicatePackage, Forbidden
from gateway.validation import GenericTarget

MAX_REGEX_LENGTH = 255


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 1 << 20  # a 255-character pattern needs far less
    return options


def compile_exception_regex(pattern: str) -> Any:
    """Built as GitLab builds it, `\\A<pattern>\\z` (so `a|b` means `\\Aa` or `b\\z`,
    as there). RE2 matches in linear time, so no pattern can hang the server; its
    length is bounded too."""
    if len(pattern) > MAX_REGEX_LENGTH:
        raise BadRequest(
            f"generic_duplicate_exception_regex is too long (at most {MAX_REGEX_LENGTH} characters)")
    try:
        return re2.compile(rf"\A{pattern}\z", options=_re2_options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise BadRequest(f"generic_duplicate_exception_regex is not valid RE2 syntax: {reason}") from None


@functools.lru_cache(maxsize=256)
def _cached_regex(pattern: str) -> Any:
    return compile_exception_regex(pattern)


def duplicates_allowed(allowed: bool, exception_regex: str, name: str, version: str) -> bool:
    """GitLab's rule: the setting, inverted when the exception regex matches the
    package name or version. An empty regex is no exception."""
    if not exception_regex:
        return allowed
    regex = _cached_regex(exception_regex)
    matches = regex.search(name) is not None or regex.search(version) is not None
    return allowed != matches


class UploadPolicy:
    def __init__(self, identity: IdentityRepository, packages: PackageRepository) -> None:
        self._identity = identity
        self._packages = packages

    async def check(self, access: Access, target: GenericTarget) -> bool:
        """Raise if the upload may not start; return whether duplicates are
        forbidden, so the insert can check again race-free."""
        project = access.project
        # Deploy tokens carry no role: any matching rule stops them.
        level = None if access.actor.kind == "deploy" else access.level
        protected, allowed, regex = await self._identity.push_policy(
            project.id, project.namespace_id, target.package_name, level)
        if protected:
            raise Forbidden("Package protected.")
        forbidden = not duplicates_allowed(allowed, regex, target.package_name, target.package_version)
        if forbidden and await self._packages.generic_file_name_taken(
                project.id, target.package_name, target.package_version, target.file_name):
            raise DuplicatePackage()
        return forbidden
