"""Package events over REST: the audit trail, webhooks, the verification gate,
and the `verify` call a pipeline makes once it has checked a gated file."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from gateway.api.generic import send_file
from gateway.api.http import authorize, request_params
from gateway.api.packages import (
    PACKAGE_FILE, PROJECT_PACKAGES, package_file_id, package_id, project_ref, text_param,
)
from gateway.api.params import path_id
from gateway.api.pagination import paginated, parse_page
from gateway.auth import Access, Action, Surface
from gateway.catalog import check_choice
from gateway.errors import BadRequest, Forbidden, NotFound
from gateway.events import EVENT_KINDS, Origin
from gateway.events.service import EventFilter
from gateway.keys import CATALOG, PACKAGE_EVENTS
from gateway.models import AccessLevel

EVENTS = PROJECT_PACKAGES + "/events"
HOOKS = PROJECT_PACKAGES + "/hooks"
HOOK = HOOKS + "/{hook_id:[0-9]+}"
HOOK_DELIVERIES = HOOK + "/deliveries"
GATE = PROJECT_PACKAGES + "/verification_gate"
VERIFY = PACKAGE_FILE + "/verify"
FILE_DOWNLOAD = PACKAGE_FILE + "/download"


def add_routes(app: web.Application) -> None:
    app.router.add_get(EVENTS, list_events)
    app.router.add_get(HOOKS, list_hooks)
    app.router.add_post(HOOKS, add_hook)
    app.router.add_delete(HOOK, remove_hook)
    app.router.add_get(HOOK_DELIVERIES, list_deliveries)
    app.router.add_get(GATE, show_gate)
    app.router.add_put(GATE, set_gate)
    app.router.add_delete(GATE, clear_gate)
    app.router.add_get(PACKAGE_FILE, get_package_file)
    app.router.add_post(VERIFY, verify_package_file)
    app.router.add_get(FILE_DOWNLOAD, download_package_file)


async def _authorize(request: web.Request, action: Action) -> Access:
    """These routes are the Packages API's: deploy tokens are not read (the request
    is anonymous), and an anonymous caller gets 404 on a private project."""
    return await authorize(request, project_ref(request), action, Surface.API)


async def _at_least(request: web.Request, action: Action, level: AccessLevel) -> Access:
    """A member's role, not only the project's visibility: on a public project,
    callers without one (anonymous, non-members, other projects' jobs) get 403."""
    access = await _authorize(request, action)
    if access.level is None or access.level < level:
        raise Forbidden()
    return access


def _hook_id(request: web.Request) -> int:
    return path_id(request, "hook_id", missing=lambda: NotFound("Hook"))


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def _text_list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name} must be a list of strings")
    return value


def _after(request: web.Request) -> dt.datetime | None:
    raw = request.query.get("after")
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest("after must be an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def list_events(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.LIST, AccessLevel.REPORTER)
    kind = request.query.get("kind")
    where = EventFilter(kind=check_choice("kind", kind, EVENT_KINDS) if kind else None,
                        package_name=text_param(request, "package_name"), after=_after(request))
    listing = await request.app[PACKAGE_EVENTS].list_events(access.project.id, where,
                                                            parse_page(request))
    return paginated(request, listing, listing.items)


async def list_hooks(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.LIST, AccessLevel.MAINTAINER)
    return web.json_response(await request.app[PACKAGE_EVENTS].hooks(access.project.id))


async def add_hook(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.WRITE, AccessLevel.MAINTAINER)
    body = await request_params(request)
    url = _optional_text(body, "url")
    if not url:
        raise BadRequest("url is missing")
    hook = await request.app[PACKAGE_EVENTS].add_hook(
        access.project.id, url, _optional_text(body, "secret"), _text_list(body, "events"))
    return web.json_response(hook, status=201)


async def remove_hook(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.WRITE, AccessLevel.MAINTAINER)
    await request.app[PACKAGE_EVENTS].remove_hook(_hook_id(request),
                                                  access.project.id)
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.LIST, AccessLevel.MAINTAINER)
    listing = await request.app[PACKAGE_EVENTS].deliveries(
        _hook_id(request), access.project.id, parse_page(request))
    return paginated(request, listing, listing.items)


async def show_gate(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.LIST, AccessLevel.MAINTAINER)
    return web.json_response(await request.app[PACKAGE_EVENTS].gate(access.project.id))


async def set_gate(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.WRITE, AccessLevel.MAINTAINER)
    body = await request_params(request)
    patterns = _text_list(body, "package_name_patterns") or []
    return web.json_response(await request.app[PACKAGE_EVENTS].set_gate(access.project.id, patterns))


async def clear_gate(request: web.Request) -> web.Response:
    access = await _at_least(request, Action.WRITE, AccessLevel.MAINTAINER)
    await request.app[PACKAGE_EVENTS].clear_gate(access.project.id)
    return web.Response(status=204)


async def get_package_file(request: web.Request) -> web.Response:
    """One file, with its verification status (pending and failed files too)."""
    access = await _authorize(request, Action.LIST)
    return web.json_response(await request.app[PACKAGE_EVENTS].package_file(
        access.project.id, package_id(request), package_file_id(request)))


async def _verifier(request: web.Request) -> Access:
    """Who may judge gated files: maintainers, and CI jobs of the project."""
    access = await _authorize(request, Action.WRITE)
    own_job = access.actor.kind == "job" and access.actor.project_id == access.project.id
    if not own_job and (access.level is None or access.level < AccessLevel.MAINTAINER):
        raise Forbidden()
    return access


async def download_package_file(request: web.Request) -> web.StreamResponse:
    """One file by id (GitLab's package_files/:id/download), with the generic
    download's headers, Range and ETag handling. Verified files download with read
    access; files still waiting or rejected only for those who may verify them."""
    access = await _authorize(request, Action.READ)
    # GitLab's PackageFinder first: a hidden or missing package is 404 Not found.
    await request.app[CATALOG].package(access.project.id, package_id(request), displayable=True)
    record = await request.app[PACKAGE_EVENTS].stored_file(
        access.project.id, package_id(request), package_file_id(request))
    if record.status != "default":
        await _verifier(request)
    return await send_file(request, record.file, unquote(record.file.file_name).rsplit("/", 1)[-1])


async def verify_package_file(request: web.Request) -> web.Response:
    """A pipeline's verdict on a gated file."""
    access = await _verifier(request)
    body = await request_params(request)
    result = await request.app[PACKAGE_EVENTS].verify(
        access.project.id, package_id(request), package_file_id(request),
        _optional_text(body, "status") or "", _optional_text(body, "reason"),
        Origin.of(access.actor, request.remote))
    return web.json_response(result)
