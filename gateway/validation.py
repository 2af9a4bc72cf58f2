"""Package name, version and file-name rules, and path-traversal checks.

Everything here works on the raw, still percent-encoded path of the request, so
that `..`, `%2e%2e`, `%252e%252e`, `%2F` and `%5C` are all seen for what they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from gateway.errors import InvalidField, InvalidParam

# GitLab's Gitlab::Regex rules (Ruby \z is Python \Z; \w is ASCII in Ruby).
PACKAGE_NAME_RE = re.compile(r"\A[A-Za-z0-9._+-]+\Z")
PACKAGE_VERSION_RE = re.compile(r"\A(?!.*\.\.)[\w+.-]+\Z", re.ASCII)
FILE_NAME_RE = re.compile(r"\A(?!~)(?!@)[A-Za-z0-9._+~@-]+(?<!~)(?<!@)\Z")
# The directory form's `path` has no regexp in GitLab, only its traversal check
# (`file_path: true`): any characters but control ones (a NUL cannot be stored).
DIRECTORY_RE = re.compile(r"\A[^\x00-\x1f\x7f]+\Z")

PACKAGE_STATUSES = ("default", "hidden")
# GitLab's limit for names, versions and file names (the directory form's whole path).
MAX_FIELD_LENGTH = 255

# Ruby's URI.encode_uri_component leaves only these bytes alone.
_URI_COMPONENT_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-._")


@dataclass(frozen=True)
class GenericTarget:
    """A parsed `/projects/:id/packages/generic/:name/:version/(path/):file_name`."""

    project_ref: str
    package_name: str
    package_version: str
    file_name: str  # as stored: `path%2Fto%2Ffile` for the directory form
    download_name: str  # last path segment, for Content-Disposition


def encode_uri_component(text: str) -> str:
    return "".join(chr(b) if b in _URI_COMPONENT_SAFE else f"%{b:02X}" for b in text.encode())


def generic_file_path(project_id: int, name: str, version: str, file_name: str) -> str:
    """The generic download URL of a stored file. A directory-form name is stored
    encoded (`dir%2Ftool`) and downloaded as `dir/tool`; each folder is encoded
    again here, since a folder name may hold any printable character (`"`, `$`,
    `#`, spaces): the URL is safe to paste into a shell between double quotes."""
    segments = "/".join(quote(segment, safe="+@") for segment in unquote(file_name).split("/"))
    return f"/api/v4/projects/{project_id}/packages/generic/{name}/{version}/{segments}"


def is_traversal(raw_segment: str) -> bool:
    """True when a segment, decoded once or twice, could step out of its folder."""
    once = unquote(raw_segment, errors="strict")
    twice = unquote(once, errors="strict")
    for form in (raw_segment, once, twice):
        if "/" in form or "\\" in form or form in {".", ".."}:
            return True
    return False


def checked_segment(raw_segment: str, field: str, pattern: re.Pattern[str]) -> str:
    try:
        if not raw_segment or is_traversal(raw_segment):
            raise InvalidField(field)
        value = unquote(raw_segment, errors="strict")
    except UnicodeDecodeError:
        raise InvalidField(field) from None
    if len(value) > MAX_FIELD_LENGTH or not pattern.match(value):
        raise InvalidField(field)
    return value


def parse_project_ref(raw_segment: str) -> str:
    """`:id` is a numeric id or a URL-encoded full path (`group%2Fproject`)."""
    try:
        value = unquote(raw_segment, errors="strict")
    except UnicodeDecodeError:
        raise InvalidField("id") from None
    if (not value or "\\" in value or not value.isprintable()
            or any(part in {"", ".", ".."} for part in value.split("/"))):
        raise InvalidField("id")
    return value


def parse_generic_tail(project_segment: str, tail_segments: list[str]) -> GenericTarget:
    """Validate `name/version/(path/)file_name`, given as raw segments."""
    if len(tail_segments) < 3:
        raise InvalidField("file_name")
    name = checked_segment(tail_segments[0], "package_name", PACKAGE_NAME_RE)
    version = checked_segment(tail_segments[1], "package_version", PACKAGE_VERSION_RE)
    directories = [checked_segment(s, "path", DIRECTORY_RE) for s in tail_segments[2:-1]]
    file_name = checked_segment(tail_segments[-1], "file_name", FILE_NAME_RE)
    stored = file_name
    if directories:
        full_path = "/".join([*directories, file_name])
        if len(full_path) > MAX_FIELD_LENGTH:
            raise InvalidField("file_name")
        stored = encode_uri_component(full_path)
    return GenericTarget(
        project_ref=parse_project_ref(project_segment),
        package_name=name,
        package_version=version,
        file_name=stored,
        download_name=file_name,
    )


def parse_status(value: str | None) -> str | None:
    if value is None:
        return None
    if value not in PACKAGE_STATUSES:
        raise InvalidParam("status")  # Grape's `values:`
    return value


def parse_select(value: str | None) -> str | None:
    if value is None:
        return None
    if value != "package_file":
        raise InvalidParam("select")  # Grape's `values:`
    return value
