"""The GitLab resources clients touch before package calls: `GET /version`,
`/user`, `/projects/:id` and `/groups/:id` (python-gitlab's `gl.auth()`,
`gl.version()`, `gl.projects.get(path)`, `gl.groups.get(path)`)."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.api import entities
from gateway.api.http import authorize, raw_id_segment, request_credential
from gateway.api.pagination import base_url
from gateway.auth import Action, Surface
from gateway.errors import Unauthorized
from gateway.keys import AUTHENTICATOR, IDENTITY
from gateway.models import User
from gateway.validation import parse_project_ref

VERSION = "/api/v4/version"
CURRENT_USER = "/api/v4/user"
PROJECT = "/api/v4/projects/{id}"
GROUP = "/api/v4/groups/{id}"


async def get_version(request: web.Request) -> web.Response:
    await current_user(request)  # GitLab answers this to signed-in callers only
    return web.json_response(entities.version())


async def get_current_user(request: web.Request) -> web.Response:
    return web.json_response(entities.user(await current_user(request), base_url(request)))


async def current_user(request: web.Request) -> User:
    """The user behind the credential (a personal or job token); 401 otherwise."""
    authenticator = request.app[AUTHENTICATOR]
    actor = await authenticator.authenticate(request_credential(request), Surface.API)
    identity = request.app[IDENTITY]
    user = await identity.find_user_by_id(actor.user_id) if actor.user_id is not None else None
    if user is None:
        raise Unauthorized()
    structlog.contextvars.bind_contextvars(actor=actor.name, actor_kind=actor.kind)
    return user


async def get_project(request: web.Request) -> web.Response:
    access = await authorize(request, parse_project_ref(raw_id_segment(request)), Action.VIEW,
                             Surface.API)
    group = await request.app[IDENTITY].find_group(str(access.project.namespace_id))
    assert group is not None  # every project has its namespace (a foreign key)
    return web.json_response(entities.project(access.project, group, base_url(request)))


async def get_group(request: web.Request) -> web.Response:
    group, visibility = await request.app[AUTHENTICATOR].view_group(
        parse_project_ref(raw_id_segment(request)), request_credential(request))
    structlog.contextvars.bind_contextvars(group_id=group.id)
    return web.json_response(entities.group(group, visibility, base_url(request)))
