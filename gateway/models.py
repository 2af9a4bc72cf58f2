"""Plain records passed between the repositories, the domain and the handlers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Self


class AccessLevel(IntEnum):
    """GitLab's project roles and their numeric access levels."""

    GUEST = 10
    REPORTER = 20
    DEVELOPER = 30
    MAINTAINER = 40
    OWNER = 50

    @classmethod
    def from_name(cls, name: str) -> AccessLevel:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}") from None


class FromRow:
    """Build a dataclass record from the database row with the same column names."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Group(FromRow):
    id: int
    path: str
    parent_id: int | None
    generic_duplicates_allowed: bool
    generic_duplicate_exception_regex: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Project(FromRow):
    id: int
    path: str
    visibility: str
    namespace_id: int
    created_at: dt.datetime

    @property
    def public(self) -> bool:
        return self.visibility == "public"


@dataclass(frozen=True)
class User(FromRow):
    id: int
    username: str
    created_at: dt.datetime


@dataclass(frozen=True)
class PackageFile(FromRow):
    id: int
    package_id: int
    file_name: str
    size: int
    file_md5: str
    file_sha1: str
    file_sha256: str
    file_store: int
    object_key: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class Package(FromRow):
    id: int
    project_id: int
    project_path: str
    package_type: str
    name: str
    version: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    last_downloaded_at: dt.datetime | None
