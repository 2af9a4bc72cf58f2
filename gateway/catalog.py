"""What is in the registry: list and inspect packages and files, and delete them.

Deleting marks rows for destruction in one statement that also checks the
package belongs to the authorised project; the destroyer removes the rest.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg

from gateway.auth import Access
from gateway.db.packages import PackageRepository
from gateway.destroyer import PackageDestroyer
from gateway.errors import InvalidParam, NotFound, PreconditionFailed, RecordNotFound
from gateway.events import Origin
from gateway.models import Package, PackageFile
from gateway.protection import ProtectionRules

T = TypeVar("T")

# GitLab's values; only generic packages exist here, the others filter to nothing.
PACKAGE_TYPES = ("maven", "npm", "conan", "nuget", "pypi", "composer", "generic", "golang",
                 "debian", "rubygems", "helm", "terraform_module", "rpm", "ml_model")
PACKAGE_STATUSES = ("default", "hidden", "processing", "error", "pending_destruction",
                    "deprecated")
PACKAGE_ORDERS = ("created_at", "name", "version", "type")
GROUP_PACKAGE_ORDERS = (*PACKAGE_ORDERS, "project_path")
FILE_ORDERS = ("id", "created_at", "file_name")
SORTS = ("asc", "desc")
# What GitLab's PackageFinder finds (its `.displayable`); the Packages API's
# id routes answer any other package, hidden ones too, as a missing one.
DISPLAYABLE_STATUSES = ("default", "error", "deprecated")
# Totals are counted up to here, as GitLab does; past it they are left out.
COUNT_LIMIT = 10_000
# Offsets stay cheap: in lists too long to count, deeper pages are refused
# (narrow the list with filters); past the end of a counted list is just empty.
MAX_OFFSET = 50_000


@dataclass(frozen=True)
class Page:
    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


@dataclass(frozen=True)
class PackageFilter:
    package_type: str | None = None
    package_name: str | None = None
    package_version: str | None = None
    status: str | None = None
    order_by: str = "created_at"
    sort: str = "asc"

    def name_patterns(self) -> list[str] | None:
        """GitLab's fuzzy name search: every word (or "quoted phrase") must appear."""
        if not self.package_name or not self.package_name.strip():
            return None
        terms = [quoted or word for quoted, word in
                 re.findall(r'"([^"]+)"|(\S+)', " ".join(self.package_name.split()))]
        return [f"%{_escape_like(term)}%" for term in terms]


@dataclass(frozen=True)
class Listing(Generic[T]):
    items: list[T]
    page: Page
    total: int | None  # None: more than COUNT_LIMIT
    has_more: bool  # whether a next page has items


async def capped_listing(count: Callable[[int], Awaitable[int]],
                         fetch: Callable[[int, int], Awaitable[list[T]]], page: Page) -> Listing[T]:
    """A page of a list whose total is counted only up to COUNT_LIMIT:
    `count(cap)` counts at most `cap` rows, `fetch(limit, offset)` reads rows."""
    counted = await count(COUNT_LIMIT + 1)
    total = counted if counted <= COUNT_LIMIT else None
    if total is not None and page.offset >= total:
        return Listing([], page, total, has_more=False)  # past the end: GitLab's []
    if total is None and page.offset > MAX_OFFSET:
        raise InvalidParam("page")  # deep pages of huge lists: narrow them with filters
    # One row more than the page tells whether a next page exists, count or not.
    items = await fetch(page.size + 1, page.offset)
    return Listing(items[:page.size], page, total, has_more=len(items) > page.size)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _check_unmodified_since(updated_at: dt.datetime, unmodified_since: dt.datetime | None) -> None:
    """GitLab's destroy_conditionally!: 412 when changed after the client's date
    (HTTP dates have whole seconds)."""
    if unmodified_since is not None and updated_at.replace(microsecond=0) > unmodified_since:
        raise PreconditionFailed()


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidParam(name)
    return value


class Catalog:
    def __init__(self, packages: PackageRepository, destroyer: PackageDestroyer,
                 protection: ProtectionRules) -> None:
        self._packages = packages
        self._destroyer = destroyer
        self._protection = protection

    async def list_packages(self, project_ids: list[int], where: PackageFilter,
                            page: Page) -> Listing[Package]:
        filters = (project_ids, where.name_patterns(), where.package_version or None,
                   where.package_type, where.status)
        order = f"{where.order_by}_{where.sort}"
        return await capped_listing(
            lambda cap: self._packages.count_packages(*filters, cap),
            lambda limit, offset: self._packages.list_packages(order, *filters, limit, offset),
            page)

    async def package(self, project_id: int, package_id: int, *, displayable: bool = False) -> Package:
        """A package of the project (GitLab's RecordNotFound otherwise);
        `displayable`: only those the Packages API finds (not hidden); the
        registry pages show hidden ones too."""
        package = await self._packages.find_package(project_id, package_id)
        if package is None or (displayable and package.status not in DISPLAYABLE_STATUSES):
            raise RecordNotFound()
        return package

    async def versions(self, package: Package) -> list[asyncpg.Record]:
        return await self._packages.package_versions(package)

    async def files(self, project_id: int, package_id: int, order_by: str, sort: str,
                    page: Page) -> Listing[PackageFile]:
        package = await self.package(project_id, package_id, displayable=True)
        total = await self._packages.count_files(package.id)
        if page.offset >= total:
            return Listing([], page, total, has_more=False)
        items = await self._packages.list_files(package.id, order_by, sort, page.size, page.offset)
        return Listing(items, page, total, has_more=page.offset + len(items) < total)

    async def _file_of(self, package_id: int, file_id: int) -> PackageFile:
        """A live file of the package (GitLab's `not_found!` otherwise); the
        caller has found the package."""
        package_file = await self._packages.find_file(package_id, file_id)
        if package_file is None:
            raise NotFound()
        return package_file

    async def delete_package(self, access: Access, package_id: int,
                             unmodified_since: dt.datetime | None = None, *,
                             origin: Origin, displayable: bool = False) -> None:
        project_id = access.project.id
        package = await self.package(project_id, package_id, displayable=displayable)
        await self._protection.check_delete(access, package.name)
        _check_unmodified_since(package.updated_at, unmodified_since)
        if not await self._packages.mark_package_for_destruction(project_id, package_id,
                                                                 origin=origin):
            raise RecordNotFound()  # destroyed by someone else meanwhile
        self._destroyer.wake()

    async def delete_file(self, access: Access, package_id: int, file_id: int,
                          unmodified_since: dt.datetime | None = None, *,
                          origin: Origin, displayable: bool = False) -> None:
        project_id = access.project.id
        package = await self.package(project_id, package_id, displayable=displayable)
        await self._protection.check_delete(access, package.name)
        package_file = await self._file_of(package_id, file_id)
        _check_unmodified_since(package_file.updated_at, unmodified_since)
        if not await self._packages.mark_file_for_destruction(project_id, package_id, file_id,
                                                              origin=origin):
            raise NotFound()
        self._destroyer.wake()

    async def delete_generic_files(self, access: Access, name: str, version: str,
                                   file_name: str, *, origin: Origin) -> None:
        """Every live file of that name in the package (the generic DELETE route)."""
        package = await self._packages.find_generic_package(access.project.id, name, version)
        if package is None:
            raise RecordNotFound()
        await self._protection.check_delete(access, package.name)
        if not await self._packages.mark_generic_files_for_destruction(
                access.project.id, package.id, file_name, origin=origin):
            raise RecordNotFound()
        self._destroyer.wake()
