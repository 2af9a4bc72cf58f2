"""The Packages API: list, inspect and delete packages and their files, per
project and per group, as python-gitlab's `project.packages`, `group.packages`
and `package.package_files` expect them."""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

from aiohttp import web

from gateway.api import entities, serializers
from gateway.api.http import authorize, authorize_group, raw_id_segment
from gateway.api.params import boolean, path_id
from gateway.api.pagination import base_url, paginated, parse_page
from gateway.auth import Action, Surface
from gateway.catalog import (
    FILE_ORDERS, GROUP_PACKAGE_ORDERS, PACKAGE_ORDERS, PACKAGE_STATUSES, PACKAGE_TYPES, SORTS,
    PackageFilter, check_choice,
)
from gateway.errors import InvalidParam, NotFound, RecordNotFound
from gateway.events import Origin
from gateway.keys import CATALOG, PIPELINES, SETTINGS
from gateway.models import Package
from gateway.validation import parse_project_ref

PROJECT_PACKAGES = "/api/v4/projects/{id}/packages"
# Ids match any segment and are read by the handler, as Grape's `type: Integer`
# (400 `package_id is invalid`); the gateway's own resources beside packages
# (package_events.py, routed after these) are not package ids.
PROJECT_PACKAGE = PROJECT_PACKAGES + "/{package_id:(?!(?:events|hooks|verification_gate)\\Z)[^/]+}"
PACKAGE_FILES = PROJECT_PACKAGE + "/package_files"
PACKAGE_FILE = PACKAGE_FILES + "/{file_id}"
GROUP_PACKAGES = "/api/v4/groups/{id}/packages"


def project_ref(request: web.Request) -> str:
    return parse_project_ref(raw_id_segment(request))


def package_id(request: web.Request) -> int:
    """GitLab's PackageFinder answers an id no package has with RecordNotFound."""
    return path_id(request, "package_id", missing=RecordNotFound)


def package_file_id(request: web.Request) -> int:
    """GitLab looks the file up with find_by_id, then `not_found!`."""
    return path_id(request, "file_id", param="package_file_id", missing=NotFound)


def text_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and (not value.isprintable() or len(value) > 255):
        raise InvalidParam(name)
    return value


def _package_filter(request: web.Request, orders: tuple[str, ...]) -> PackageFilter:
    query = request.query
    package_type, status = query.get("package_type"), query.get("status")
    boolean(request, "include_versionless")  # validated; generic packages always have a version
    return PackageFilter(
        package_type=check_choice("package_type", package_type, PACKAGE_TYPES) if package_type else None,
        package_name=text_param(request, "package_name"),
        package_version=text_param(request, "package_version"),
        status=check_choice("status", status, PACKAGE_STATUSES) if status else None,
        order_by=check_choice("order_by", query.get("order_by", "created_at"), orders),
        sort=check_choice("sort", query.get("sort", "asc"), SORTS),
    )


async def _latest_pipelines(request: web.Request, packages: list[Package]) -> dict[int, Any]:
    """Each package's latest pipeline, as GitLab renders it, by package id."""
    base, external = base_url(request), request.app[SETTINGS].external_url
    paths = {p.id: p.project_path for p in packages}
    return {package_id: entities.pipeline(row, paths[package_id], base_url=base,
                                          external_url=external)
            for package_id, row in (await request.app[PIPELINES].latest(packages)).items()}


async def list_project_packages(request: web.Request) -> web.Response:
    access = await authorize(request, project_ref(request), Action.LIST, Surface.API)
    where, page = _package_filter(request, PACKAGE_ORDERS), parse_page(request)
    listing = await request.app[CATALOG].list_packages([access.project.id], where, page)
    base, pipelines = base_url(request), await _latest_pipelines(request, listing.items)
    return paginated(request, listing, [
        serializers.package(p, base_url=base, can_delete=access.can_delete,
                            pipeline=pipelines.get(p.id))
        for p in listing.items])


async def get_project_package(request: web.Request) -> web.Response:
    access = await authorize(request, project_ref(request), Action.LIST, Surface.API)
    catalog = request.app[CATALOG]
    package = await catalog.package(access.project.id, package_id(request), displayable=True)
    pipelines = await _latest_pipelines(request, [package])
    body = serializers.package(package, base_url=base_url(request), can_delete=access.can_delete,
                               pipeline=pipelines.get(package.id))
    body["versions"] = [serializers.package_version(v) for v in await catalog.versions(package)]
    return web.json_response(body)


async def list_package_files(request: web.Request) -> web.Response:
    access = await authorize(request, project_ref(request), Action.LIST, Surface.API)
    order_by = check_choice("order_by", request.query.get("order_by", "id"), FILE_ORDERS)
    sort = check_choice("sort", request.query.get("sort", "asc"), SORTS)
    listing = await request.app[CATALOG].files(
        access.project.id, package_id(request), order_by, sort, parse_page(request))
    return paginated(request, listing, [serializers.package_file(f) for f in listing.items])


async def delete_project_package(request: web.Request) -> web.Response:
    access = await authorize(request, project_ref(request), Action.DELETE, Surface.API)
    await request.app[CATALOG].delete_package(
        access, package_id(request), displayable=True, unmodified_since=_unmodified_since(request),
        origin=Origin.of(access.actor, request.remote))
    return web.Response(status=204)


async def delete_package_file(request: web.Request) -> web.Response:
    access = await authorize(request, project_ref(request), Action.DELETE, Surface.API)
    await request.app[CATALOG].delete_file(
        access, package_id(request), package_file_id(request), displayable=True,
        unmodified_since=_unmodified_since(request),
        origin=Origin.of(access.actor, request.remote))
    return web.Response(status=204)


async def list_group_packages(request: web.Request) -> web.Response:
    group_access = await authorize_group(request, project_ref(request),
                                         include_subgroups=not boolean(request, "exclude_subgroups"))
    where, page = _package_filter(request, GROUP_PACKAGE_ORDERS), parse_page(request)
    listing = await request.app[CATALOG].list_packages(group_access.project_ids, where, page)
    base, pipelines = base_url(request), await _latest_pipelines(request, listing.items)
    return paginated(request, listing, [
        serializers.package(p, base_url=base, can_delete=p.project_id in group_access.deletable,
                            in_group=True, pipeline=pipelines.get(p.id))
        for p in listing.items])


def _unmodified_since(request: web.Request) -> dt.datetime | None:
    """GitLab honours If-Unmodified-Since on deletes (412 when changed since)."""
    header = request.headers.get("If-Unmodified-Since")
    if not header:
        return None
    try:
        return email.utils.parsedate_to_datetime(header).astimezone(dt.UTC)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None  # an unreadable date is ignored, as HTTP says
