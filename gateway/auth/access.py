"""Actor + project -> what they may do there.

The codes follow GitLab's package endpoints: bad credentials 401; a project the
actor cannot see 404 (never reveal it); seen but not allowed 403.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from gateway.auth.actors import ANONYMOUS, Actor
from gateway.auth.credentials import Credentials
from gateway.auth.proxy import ProxyVerifier
from gateway.auth.tokens import DEPLOY_SCOPES, TokenVerifier
from gateway.db.identity import IdentityRepository
from gateway.errors import Forbidden, InsufficientScope, NotFound, Unauthorized
from gateway.models import AccessLevel, Group, Project


class Action(Enum):
    VIEW = "view"  # see the project itself
    READ = "read"  # download a file
    LIST = "list"  # see what packages a project has
    WRITE = "write"
    DELETE = "delete"
    ADMIN = "admin"  # manage the project's package settings (protection rules)


# The role each action needs on a private project; on a public project, viewing,
# reading and listing need none. Guests do not download (GitLab's default).
REQUIRED_LEVEL = {
    Action.VIEW: AccessLevel.GUEST,
    Action.READ: AccessLevel.REPORTER,
    Action.LIST: AccessLevel.REPORTER,
    Action.WRITE: AccessLevel.DEVELOPER,
    Action.DELETE: AccessLevel.MAINTAINER,
    Action.ADMIN: AccessLevel.MAINTAINER,
}
_PUBLIC_ACTIONS = {Action.VIEW, Action.READ, Action.LIST}


class Surface(Enum):
    """Which API a route belongs to: GitLab reads credentials and answers
    anonymous callers differently on each."""

    GENERIC = "generic"  # the generic packages routes: deploy tokens read, anonymous 401
    API = "api"  # the Packages API and the resources beside it: no deploy tokens, anonymous 404/403


@dataclass(frozen=True)
class Access:
    """An authorised request: who acts, on which project, with which role."""

    project: Project
    actor: Actor
    level: AccessLevel | None

    @property
    def can_delete(self) -> bool:
        if self.actor.kind == "deploy":
            return self.actor.project_id == self.project.id and \
                "write_package_registry" in self.actor.scopes
        return self.level is not None and self.level >= AccessLevel.MAINTAINER


@dataclass(frozen=True)
class GroupAccess:
    """A group, and the projects under it whose packages the actor may list."""

    group: Group
    actor: Actor
    project_ids: list[int]
    deletable: frozenset[int]  # those where the actor may also delete


class Authenticator:
    def __init__(self, identity: IdentityRepository, proxy_secret: str | None = None) -> None:
        self._identity = identity
        self._tokens = TokenVerifier(identity)
        self._proxy = ProxyVerifier(proxy_secret) if proxy_secret else None

    @property
    def proxy_enabled(self) -> bool:
        return self._proxy is not None

    async def authenticate(self, sent: Credentials,
                           surface: Surface = Surface.GENERIC) -> Actor:
        if not sent.sent:
            return ANONYMOUS
        now = dt.datetime.now(dt.UTC)
        if sent.proxy is not None:
            assert self._proxy is not None
            return self._proxy.verify(sent.proxy, now)
        return await self._tokens.verify(sent, now, deploy_tokens=surface is Surface.GENERIC)

    async def authorize(self, project_ref: str, credential: Credentials,
                        action: Action, surface: Surface = Surface.GENERIC) -> Access:
        return await self.authorize_actor(project_ref, await self.authenticate(credential, surface),
                                          action, surface)

    async def authorize_actor(self, project_ref: str, actor: Actor, action: Action,
                              surface: Surface = Surface.GENERIC) -> Access:
        """`authorize` for an actor already known (the web page's signed-in user)."""
        _check_scopes(actor, action)
        # The user's role comes with the project (one round trip); whether it
        # counts is decided below, as before.
        project, member_level = await self._identity.find_project_with_level(
            project_ref, actor.user_id)
        # GitLab's generic routes say only "404 Not Found"; its API names the project.
        not_found = NotFound() if surface is Surface.GENERIC else NotFound("Project")
        if actor.anonymous:
            if action in _PUBLIC_ACTIONS and project is not None and project.public:
                return Access(project, actor, None)
            if surface is Surface.GENERIC:
                raise Unauthorized()  # so Basic-auth clients retry with credentials
            if project is not None and project.public:
                raise Forbidden()
            raise not_found
        if actor.kind == "proxy" and (project is None or not _same_project(actor.proxy_project, project)):
            raise Unauthorized("proxy credential is for another project")
        if project is None:
            raise not_found
        if actor.kind == "deploy" and actor.project_id == project.id:
            return Access(project, actor, None)  # rights come from its scopes, checked above
        if actor.kind == "job" and actor.project_id != project.id:
            # Outside its own project a job token reads what anonymous callers may.
            if action in _PUBLIC_ACTIONS and project.public:
                return Access(project, actor, None)
            raise Forbidden("job token is for another project") if project.public else not_found
        level = self._level(actor, member_level)
        if level is None and not project.public:
            raise not_found
        required = None if project.public and action in _PUBLIC_ACTIONS else REQUIRED_LEVEL[action]
        if required is not None and (level is None or level < required):
            raise Forbidden()
        return Access(project, actor, level)

    async def authorize_group(self, group_ref: str, credential: Credentials, *,
                              include_subgroups: bool) -> GroupAccess:
        """The projects under a group whose packages the actor may list: public
        ones and those where a user is reporter or above; for a job token, public
        ones and its own project; for the proxy, its own project. A group with none
        is not shown. This is the Packages API: deploy tokens are not read."""
        actor = await self.authenticate(credential, Surface.API)
        _check_scopes(actor, Action.LIST)
        group = await self._identity.find_group(group_ref)
        project_ids: list[int] = []
        if group is not None:
            project_ids = await self._group_projects(actor, group, include_subgroups)
        if not project_ids:
            raise NotFound("Group")
        assert group is not None
        return GroupAccess(group, actor, project_ids, await self._deletable(actor, project_ids))

    async def view_group(self, group_ref: str, credential: Credentials) -> tuple[Group, str]:
        """A group the actor can see, and its visibility: public when a public
        project is under it (GitLab's groups are at least as visible as their
        projects). Seen by anyone when public, else by members of a project under
        it, a job token or the proxy of one; otherwise 404."""
        actor = await self.authenticate(credential, Surface.API)
        _check_scopes(actor, Action.VIEW)
        group = await self._identity.find_group(group_ref)
        if group is None:
            raise NotFound("Group")
        public = await self._identity.group_has_public_project(group.id)
        if not public and not await self._sees_private_group(actor, group):
            raise NotFound("Group")
        return group, "public" if public else "private"

    async def _sees_private_group(self, actor: Actor, group: Group) -> bool:
        if actor.kind in {"anonymous", "user"}:
            return actor.user_id is not None and bool(
                await self._identity.group_projects_seen_by(group.id, actor.user_id))
        own: int | None = actor.project_id
        if actor.kind == "proxy":
            project = await self._identity.find_project(actor.proxy_project or "")
            own = project.id if project and actor.proxy_level else None
        return own is not None and await self._identity.project_in_group(
            group.id, own, include_subgroups=True)

    async def _deletable(self, actor: Actor, project_ids: list[int]) -> frozenset[int]:
        if actor.kind == "user":
            return frozenset(await self._identity.projects_with_level(
                actor.user_id, project_ids, AccessLevel.MAINTAINER))
        if actor.kind == "job":
            level = await self._identity.access_level(actor.project_id, actor.user_id)
            allowed = level is not None and level >= AccessLevel.MAINTAINER
        elif actor.kind == "proxy":
            allowed = (actor.proxy_level or 0) >= AccessLevel.MAINTAINER
        else:
            allowed = False
        return frozenset(project_ids) if allowed else frozenset()

    async def _group_projects(self, actor: Actor, group: Group, include_subgroups: bool) -> list[int]:
        if actor.kind in {"anonymous", "user"}:
            return await self._identity.group_projects_visible_to(
                group.id, actor.user_id, include_subgroups=include_subgroups)
        visible: list[int] = []
        if actor.kind == "proxy":
            project = await self._identity.find_project(actor.proxy_project or "")
            own = project.id if project and (actor.proxy_level or 0) >= AccessLevel.REPORTER else None
        else:  # a job token: its own project, and whatever anonymous callers see
            level = await self._identity.access_level(actor.project_id, actor.user_id)
            own = actor.project_id if level is not None and level >= AccessLevel.REPORTER else None
            visible = await self._identity.group_projects_visible_to(
                group.id, None, include_subgroups=include_subgroups)
        if own is not None and own not in visible and await self._identity.project_in_group(
                group.id, own, include_subgroups=include_subgroups):
            visible = sorted([*visible, own])
        return visible

    @staticmethod
    def _level(actor: Actor, member_level: AccessLevel | None) -> AccessLevel | None:
        """`member_level`: the role of `actor.user_id` in the project."""
        if actor.kind == "proxy":
            return AccessLevel(actor.proxy_level) if actor.proxy_level else None
        if actor.user_id is None:  # a deploy token outside its project
            return None
        return member_level


def _check_scopes(actor: Actor, action: Action) -> None:
    """Token scopes, before any project is looked at (as GitLab's API guard does)."""
    reading = action in _PUBLIC_ACTIONS
    if actor.kind == "user":
        allowed = {"api", "read_api"} if reading else {"api"}
        if not actor.scopes & allowed:
            raise InsufficientScope("api")
    elif actor.kind == "deploy":
        allowed = set(DEPLOY_SCOPES) if reading else {"write_package_registry"}
        if not actor.scopes & allowed:
            raise Forbidden()


def _same_project(claimed: str | None, project: Project) -> bool:
    if claimed is None:
        return False
    if claimed.isdigit():
        return int(claimed) == project.id
    return claimed.lower() == project.path.lower()
