"""The CI pipelines that pushed a package's files (a package file downloaded by
id is in package_events.py, beside the verification gate it answers to)."""

from __future__ import annotations

from aiohttp import web

from gateway.api import entities
from gateway.api.http import authorize, raw_id_segment
from gateway.api.packages import PROJECT_PACKAGE, package_id
from gateway.api.pagination import base_url, paginated, parse_page
from gateway.auth import Action, Surface
from gateway.keys import PIPELINES, SETTINGS
from gateway.validation import parse_project_ref

PACKAGE_PIPELINES = PROJECT_PACKAGE + "/pipelines"


async def list_package_pipelines(request: web.Request) -> web.Response:
    access = await authorize(request, parse_project_ref(raw_id_segment(request)), Action.LIST,
                             Surface.API)
    listing = await request.app[PIPELINES].list(
        access.project.id, package_id(request), parse_page(request))
    base, external = base_url(request), request.app[SETTINGS].external_url
    return paginated(request, listing, [
        entities.pipeline(row, access.project.path, base_url=base, external_url=external)
        for row in listing.items])
