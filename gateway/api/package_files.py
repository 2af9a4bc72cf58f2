"""Package routes beside the listing ones: a package file downloaded by id, and
the CI pipelines that pushed a package's files."""

from __future__ import annotations

from urllib.parse import unquote

import structlog
from aiohttp import web

from gateway.api import entities
from gateway.api.generic import send_file
from gateway.api.http import authorize, raw_id_segment
from gateway.api.packages import PACKAGE_FILE, PROJECT_PACKAGE, path_id
from gateway.api.pagination import base_url, paginated, parse_page
from gateway.auth import Action, Surface
from gateway.keys import CATALOG, PIPELINES, SETTINGS
from gateway.validation import parse_project_ref

PACKAGE_FILE_DOWNLOAD = PACKAGE_FILE + "/download"
PACKAGE_PIPELINES = PROJECT_PACKAGE + "/pipelines"


async def download_package_file(request: web.Request) -> web.StreamResponse:
    """The file, with the generic download's headers, Range and ETag handling."""
    access = await authorize(request, parse_project_ref(raw_id_segment(request)), Action.READ,
                             Surface.API)
    record = await request.app[CATALOG].file(
        access.project.id, path_id(request, "package_id", "Package"),
        path_id(request, "file_id", "Package File"))
    structlog.contextvars.bind_contextvars(package_id=record.package_id, package_file_id=record.id)
    # The directory form is stored encoded (`dir%2Ftool`); it downloads as `tool`.
    return await send_file(request, record, unquote(record.file_name).rsplit("/", 1)[-1])


async def list_package_pipelines(request: web.Request) -> web.Response:
    access = await authorize(request, parse_project_ref(raw_id_segment(request)), Action.LIST,
                             Surface.API)
    listing = await request.app[PIPELINES].list(
        access.project.id, path_id(request, "package_id", "Package"), parse_page(request))
    base, external = base_url(request), request.app[SETTINGS].external_url
    return paginated(request, listing, [
        entities.pipeline(row, access.project.path, base_url=base, external_url=external)
        for row in listing.items])
