"""Package protection rules over REST, as GitLab's
(`/projects/:id/packages/protection/rules`, python-gitlab's
`project.package_protection_rules`); maintainers and up."""

from __future__ import annotations

from aiohttp import web

from gateway.api.http import authorize, raw_id_segment, request_params
from gateway.api.params import path_id
from gateway.auth import Access, Action, Surface
from gateway.errors import RecordNotFound
from gateway.keys import PROTECTION
from gateway.validation import parse_project_ref

RULES = "/api/v4/projects/{id}/packages/protection/rules"
RULE = RULES + "/{rule_id}"  # any segment: a non-integer is Grape's 400, from _rule_id


async def _admin(request: web.Request) -> Access:
    return await authorize(request, parse_project_ref(raw_id_segment(request)), Action.ADMIN,
                           Surface.API)


def _rule_id(request: web.Request) -> int:
    """GitLab's `requires :package_protection_rule_id, type: Integer`, then `find`."""
    return path_id(request, "rule_id", param="package_protection_rule_id",
                   missing=RecordNotFound)


async def list_rules(request: web.Request) -> web.Response:
    access = await _admin(request)
    return web.json_response(await request.app[PROTECTION].list(access.project.id))


async def create_rule(request: web.Request) -> web.Response:
    access = await _admin(request)
    rule = await request.app[PROTECTION].create(access.project.id, await request_params(request))
    return web.json_response(rule, status=201)


async def update_rule(request: web.Request) -> web.Response:
    access = await _admin(request)
    rule = await request.app[PROTECTION].update(access.project.id, _rule_id(request),
                                                await request_params(request))
    return web.json_response(rule)


async def delete_rule(request: web.Request) -> web.Response:
    access = await _admin(request)
    await request.app[PROTECTION].delete(access.project.id, _rule_id(request))
    return web.Response(status=204)
