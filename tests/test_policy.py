"""The duplicate rule and its exception regex, as GitLab defines them."""

from __future__ import annotations

import time

import pytest

from gateway.errors import BadRequest
from gateway.policy import compile_exception_regex, duplicates_allowed


@pytest.mark.parametrize(("allowed", "regex", "expected"), [
    (True, "", True),
    (False, "", False),
    (False, ".*kage", True),        # matches the name: the exception allows
    (False, r"1\.2\..*", True),     # matches the version
    (False, ".*zzz.*", False),
    (True, ".*kage", False),        # allowed, but the exception forbids
    (True, r"1\.2\.3", False),
    (True, ".*zzz.*", True),
    (False, "kage", False),         # anchored: a partial match is no match
])
def test_allowed_xor_exception_match(allowed: bool, regex: str, expected: bool) -> None:
    assert duplicates_allowed(allowed, regex, "mypackage", "1.2.3") is expected


@pytest.mark.parametrize("pattern", ["[", "(?:v.+|SNAPSHOT|TEMP", r"(a)\1", "x" * 256])
def test_bad_patterns_are_refused_when_set(pattern: str) -> None:
    with pytest.raises(BadRequest) as raised:
        compile_exception_regex(pattern)
    assert "generic_duplicate_exception_regex" in raised.value.message


@pytest.mark.parametrize("pattern", ["SNAPSHOT", ".*", "v.+", "v10.1.*", "(?:v.+|SNAPSHOT|TEMP)"])
def test_gitlab_examples_compile(pattern: str) -> None:
    compile_exception_regex(pattern)


def test_matching_cannot_hang() -> None:
    """A pattern that backtracks exponentially in Python's re runs in linear time in RE2."""
    started = time.perf_counter()
    assert duplicates_allowed(False, "(a+)+b", "a" * 255, "a" * 255) is False
    assert time.perf_counter() - started < 0.5


def test_exception_regex_is_built_as_gitlab_builds_it() -> None:
    """GitLab anchors with `\\A<regex>\\z`, so a top-level `|` splits the anchors."""
    assert duplicates_allowed(True, r"1\.0|beta", "pkg", "1.0.5") is False  # \A1\.0 matches
    assert duplicates_allowed(True, r"1\.0|beta", "pkg", "2.0-beta") is False  # beta\z matches
    assert duplicates_allowed(True, r"1\.0|beta", "pkg", "2.0") is True
    with pytest.raises(BadRequest):
        compile_exception_regex("a)|(b")  # unbalanced once anchored, as in GitLab
