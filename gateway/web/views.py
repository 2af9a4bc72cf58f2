"""The pages: thin handlers that parse, ask the domain and render.

What a visitor sees is decided by the API's own rules (`Authenticator.authorize_actor`
with the signed-in user, or anonymous): reporters and up list a private
project's packages, maintainers get delete controls, and deletes go through
`Catalog` as the API's do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from gateway.api.pagination import base_url
from gateway.auth import Access, Action, Credentials
from gateway.catalog import PackageFilter
from gateway.db.identity import MAX_BIGINT
from gateway.errors import BadRequest, Forbidden, NotFound, Unauthorized
from gateway.events import Origin
from gateway.keys import AUTHENTICATOR, CATALOG, SETTINGS
from gateway.models import Package
from gateway.web.keys import HISTORY, SESSIONS, WEB_QUERIES
from gateway.web.render import render
from gateway.web.sessions import COOKIE_NAME, SESSION_LIFETIME
from gateway.validation import generic_file_path
from gateway.web.visitor import current_session, visitor_actor

NAMES_PER_PAGE = 20
# A name lists its first few versions; all of them are a page of their own
# (`?name=`), so a name with thousands of nightly versions stays one short group.
VERSIONS_PER_NAME = 5
VERSIONS_PER_PAGE = 50
ORDERS = ("created", "name", "version")
SORTS = ("desc", "asc")
_MAX_SEARCH = 255


# -- who may see what ------------------------------------------------------------
async def project_access(request: web.Request, action: Action) -> Access:
    actor = await visitor_actor(request)
    try:
        access = await request.app[AUTHENTICATOR].authorize_actor(
            request.match_info["project"], actor, action)
    except Unauthorized:
        # Signed out on a private project: as if it did not exist.
        raise NotFound("Project") from None
    structlog.contextvars.bind_contextvars(
        project_id=access.project.id, actor=actor.name, actor_kind=actor.kind)
    return access


def _id(request: web.Request, name: str) -> int:
    value = int(request.match_info[name])
    if value > MAX_BIGINT:
        raise NotFound()
    return value


async def _checked_post(request: web.Request) -> None:
    """A form POST from our own pages by a signed-in visitor with its CSRF token."""
    _same_origin(request)
    form = await request.post()
    session = await current_session(request)
    if session is None:
        raise Forbidden("sign in first")
    if not session.csrf_matches(_form_text(form, "csrf_token")):
        raise Forbidden("the form has expired or did not come from this site; reload the page")


def _same_origin(request: web.Request) -> None:
    """Refuse POSTs that a browser marks as coming from another site."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != base_url(request):  # "null" too: an opaque origin
        raise Forbidden("cross-site form")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise Forbidden("cross-site form")


def _form_text(form: MultiDictProxy[str | bytes | web.FileField], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or `/\\host`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if not target.isprintable():
        return "/"
    return target


# -- links ------------------------------------------------------------------------
def registry_path(project_path: str) -> str:
    return f"/{project_path}/-/packages"


def package_path(project_path: str, package_id: int) -> str:
    return f"{registry_path(project_path)}/{package_id}"


def generic_path(package: Package, file_name: str) -> str:
    return generic_file_path(package.project_id, package.name, package.version, file_name)


# -- home, sign-in ----------------------------------------------------------------
async def home(request: web.Request) -> web.Response:
    session = await current_session(request)
    projects = await request.app[WEB_QUERIES].visible_projects(session.user_id if session else None)
    return await render(request, "home.html", {"projects": projects})


async def sign_in_form(request: web.Request) -> web.Response:
    return await render(request, "sign_in.html",
                        {"next": _safe_next(request.query.get("next")), "error": None})


async def sign_in(request: web.Request) -> web.Response:
    _same_origin(request)
    form = await request.post()
    token, next_path = (_form_text(form, "token") or "").strip(), _safe_next(_form_text(form, "next"))
    try:
        actor = await request.app[AUTHENTICATOR].authenticate(
            Credentials(private_token=token))
    except Unauthorized:
        return await render(request, "sign_in.html", {
            "next": next_path,
            "error": "That token was not accepted: it is unknown, expired or revoked.",
        }, status=401)
    opened = await request.app[SESSIONS].start(actor)
    response = _redirect(next_path)
    response.set_cookie(COOKIE_NAME, opened.cookie_value, path="/", httponly=True,
                        samesite="Strict", secure=_secure_cookie(request),
                        max_age=int(SESSION_LIFETIME.total_seconds()))
    return response


async def sign_out(request: web.Request) -> web.Response:
    if await current_session(request) is not None:
        await _checked_post(request)
        await request.app[SESSIONS].end(request.cookies.get(COOKIE_NAME))
    response = _redirect("/")
    response.del_cookie(COOKIE_NAME, path="/")
    return response


def _secure_cookie(request: web.Request) -> bool:
    external = request.app[SETTINGS].external_url or ""
    return request.secure or external.lower().startswith("https://")


# -- the registry -----------------------------------------------------------------
@dataclass(frozen=True)
class RegistryQuery:
    search: str
    name: str  # one package name's versions only
    order_by: str
    sort: str
    hidden: bool
    page: int

    @classmethod
    def parse(cls, request: web.Request) -> RegistryQuery:
        query = request.query
        search, name = query.get("search", "").strip(), query.get("name", "")
        order_by, sort = query.get("order_by", "created"), query.get("sort", "desc")
        status = query.get("status", "")
        page = query.get("page", "1")
        if any(len(text) > _MAX_SEARCH or not text.isprintable() for text in (search, name)):
            raise BadRequest("search or name is too long or not printable")
        if order_by not in ORDERS or sort not in SORTS or status not in ("", "hidden"):
            raise BadRequest("unknown order_by, sort or status")
        if not (page.isascii() and page.isdigit()) or not 1 <= int(page) <= 100_000:
            raise BadRequest("page must be a positive number")
        return cls(search, name, order_by, sort, status == "hidden", int(page))

    def url(self, path: str, **changes: object) -> str:
        values = {"search": self.search, "name": self.name, "order_by": self.order_by,
                  "sort": self.sort, "status": "hidden" if self.hidden else "", "page": self.page,
                  **changes}
        defaults = {"search": "", "name": "", "order_by": "created", "sort": "desc", "status": "",
                    "page": 1}
        kept = {k: v for k, v in values.items() if v != defaults[k]}
        return f"{path}?{urlencode(kept)}" if kept else path


async def registry(request: web.Request) -> web.Response:
    access = await project_access(request, Action.LIST)
    query = RegistryQuery.parse(request)
    queries, history, project = request.app[WEB_QUERIES], request.app[HISTORY], access.project
    patterns = PackageFilter(package_name=query.search).name_patterns()
    status = "hidden" if query.hidden else None
    stats = await queries.project_stats(project.id)
    if query.name:
        names = await queries.versions_of(
            project.id, [query.name], status, query.order_by, query.sort,
            (query.page - 1) * VERSIONS_PER_PAGE, VERSIONS_PER_PAGE)
        total = names[0].version_count if names else 0
        pages = max(1, math.ceil(total / VERSIONS_PER_PAGE))
    else:
        total = await queries.count_package_names(project.id, patterns, status)
        pages = max(1, math.ceil(total / NAMES_PER_PAGE))
        names = await queries.package_names(
            project.id, patterns, status, query.order_by, query.sort, NAMES_PER_PAGE,
            (query.page - 1) * NAMES_PER_PAGE, VERSIONS_PER_NAME)
    return await render(request, "registry.html", {
        "project": project, "stats": stats, "names": names, "query": query,
        "total": total, "pages": pages, "can_delete": access.can_delete,
        "built_from": await history.built_from(project.id),
        "refs": await history.refs(project.id, [v.id for name in names for v in name.versions]),
        "registry_path": registry_path(project.path),
        "package_path": lambda package_id: package_path(project.path, package_id),
    })


# -- one package ----------------------------------------------------------------------
async def package_page(request: web.Request) -> web.Response:
    access = await project_access(request, Action.LIST)
    package = await request.app[CATALOG].package(access.project.id, _id(request, "package_id"))
    tab = request.query.get("tab", "files")
    if tab not in ("files", "history"):
        raise BadRequest("unknown tab")
    files = await request.app[WEB_QUERIES].package_files(package.id)
    versions = await request.app[CATALOG].versions(package)
    base = base_url(request)
    curl_file = files[0].file_name if files else "FILE_NAME"
    return await render(request, "package.html", {
        "project": access.project, "package": package, "files": files, "versions": versions,
        "tab": tab, "can_delete": access.can_delete,
        "history": await request.app[HISTORY].of_package(package) if tab == "history" else [],
        "built_from": await request.app[HISTORY].built_from(access.project.id, package.id),
        "registry_path": registry_path(access.project.path),
        "package_path": package_path(access.project.path, package.id),
        "version_path": lambda package_id: package_path(access.project.path, package_id),
        "download_path": lambda file_name: generic_path(package, file_name),
        "curl": f'curl --header "PRIVATE-TOKEN: <your_access_token>" --remote-name '
                f'"{base}{generic_path(package, curl_file)}"',
        "size": sum(f.size for f in files),
    })


# -- deleting: a confirmation page (GET), then the POST with its CSRF token ----------------
async def confirm_delete_package(request: web.Request) -> web.Response:
    access = await project_access(request, Action.DELETE)
    package = await request.app[CATALOG].package(access.project.id, _id(request, "package_id"))
    files = await request.app[WEB_QUERIES].package_files(package.id)
    return await render(request, "confirm_delete.html", {
        "project": access.project, "package": package, "file": None, "file_count": len(files),
        "cancel_path": package_path(access.project.path, package.id),
    })


async def delete_package(request: web.Request) -> web.Response:
    await _checked_post(request)
    access = await project_access(request, Action.DELETE)
    await request.app[CATALOG].delete_package(access, _id(request, "package_id"),
                                              origin=Origin.of(access.actor, request.remote))
    return _redirect(registry_path(access.project.path))


async def confirm_delete_file(request: web.Request) -> web.Response:
    access = await project_access(request, Action.DELETE)
    package = await request.app[CATALOG].package(access.project.id, _id(request, "package_id"))
    file_id = _id(request, "file_id")
    package_file = next((f for f in await request.app[WEB_QUERIES].package_files(package.id)
                         if f.id == file_id), None)
    if package_file is None:
        raise NotFound("Package File")
    return await render(request, "confirm_delete.html", {
        "project": access.project, "package": package, "file": package_file, "file_count": 1,
        "cancel_path": package_path(access.project.path, package.id),
    })


async def delete_file(request: web.Request) -> web.Response:
    await _checked_post(request)
    access = await project_access(request, Action.DELETE)
    package_id = _id(request, "package_id")
    await request.app[CATALOG].delete_file(access, package_id, _id(request, "file_id"),
                                           origin=Origin.of(access.actor, request.remote))
    return _redirect(package_path(access.project.path, package_id))
