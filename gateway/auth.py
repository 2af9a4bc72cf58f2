"""Credentials -> actor, and actor + project -> what they may do there.

The codes follow GitLab's package endpoints: bad credentials 401; a project the
actor cannot see 404 (never reveal it); seen but not allowed 403. An unknown
Basic password or Deploy-Token is ignored (the request goes on as anonymous), as
GitLab does, so public downloads keep working with stale CI credentials; a
token that is known but expired or revoked is always 401.

Credential kinds: personal access tokens (`PRIVATE-TOKEN`, `Authorization:
Bearer`), CI job tokens (`JOB-TOKEN`), deploy tokens (`Deploy-Token`), any of
them as the HTTP Basic password, and the trusted proxy's signed header.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from enum import Enum

from multidict import CIMultiDictProxy

from gateway.db.identity import AccessToken, IdentityRepository
from gateway.errors import Forbidden, InsufficientScope, InvalidToken, NotFound, Unauthorized
from gateway.models import AccessLevel, Group, Project

TOKEN_PREFIXES = {"personal": "glpat-", "deploy": "gldt-", "job": "glcbt-"}
PERSONAL_SCOPES = ("api", "read_api")
DEPLOY_SCOPES = ("read_package_registry", "write_package_registry")
PROXY_HEADER = "X-Gateway-Proxy-Auth"
# A signed proxy header is a per-request assertion; it may not live longer than this.
PROXY_MAX_LIFETIME = dt.timedelta(hours=1)
# last_used_at is informative; writing it on every request would make reads write.
_TOUCH_INTERVAL = dt.timedelta(minutes=10)


def generate_token(kind: str) -> str:
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(24)


def token_digest(secret: str) -> bytes:
    """Tokens are random 192-bit secrets, so a plain SHA-256 is a safe digest.
    (surrogateescape: header bytes that are not UTF-8 digest too, and match nothing.)"""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


class Action(Enum):
    READ = "read"  # download a file
    LIST = "list"  # see what packages a project has
    WRITE = "write"
    DELETE = "delete"


# The role each action needs; on a public project, reading and listing need none.
REQUIRED_LEVEL = {
    Action.READ: None,
    Action.LIST: AccessLevel.REPORTER,
    Action.WRITE: AccessLevel.DEVELOPER,
    Action.DELETE: AccessLevel.MAINTAINER,
}
_PUBLIC_ACTIONS = {Action.READ, Action.LIST}


class CredentialKind(Enum):
    PRIVATE_TOKEN = "private_token"
    BEARER = "bearer"
    BASIC = "basic"
    JOB_TOKEN = "job_token"
    DEPLOY_TOKEN = "deploy_token"
    PROXY = "proxy"


# Which token kinds each way of sending a credential may carry.
_ACCEPTED_KINDS = {
    CredentialKind.PRIVATE_TOKEN: {"personal"},
    CredentialKind.BEARER: {"personal"},
    CredentialKind.JOB_TOKEN: {"job"},
    CredentialKind.DEPLOY_TOKEN: {"deploy"},
    CredentialKind.BASIC: {"personal", "deploy", "job"},
}
# Unknown secrets sent these ways fall back to anonymous instead of 401.
_LENIENT = {CredentialKind.BASIC, CredentialKind.DEPLOY_TOKEN}


@dataclass(frozen=True)
class Credential:
    kind: CredentialKind
    secret: str = field(repr=False)


def read_credential(headers: CIMultiDictProxy[str], *, proxy_enabled: bool = False) -> Credential | None:
    if proxy_enabled and (signed := headers.get(PROXY_HEADER)):
        return Credential(CredentialKind.PROXY, signed.strip())
    for header, kind in (("PRIVATE-TOKEN", CredentialKind.PRIVATE_TOKEN),
                         ("JOB-TOKEN", CredentialKind.JOB_TOKEN),
                         ("Deploy-Token", CredentialKind.DEPLOY_TOKEN)):
        if token := headers.get(header):
            return Credential(kind, token.strip())
    scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credential(CredentialKind.BEARER, value.strip())
    if scheme.lower() == "basic":
        return Credential(CredentialKind.BASIC, _basic_password(value.strip()))
    return None


def _basic_password(encoded: str) -> str:
    """The password of a Basic header; GitLab ignores the user name
    (`gitlab-ci-token` for job tokens, anything at all otherwise)."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # not base64 (ValueError: not even ASCII), not UTF-8
        return ""
    return decoded.partition(":")[2]


@dataclass(frozen=True)
class Actor:
    """Who acts: anonymous, a user (personal token), a deploy token, a CI job, or
    an actor the trusted proxy vouches for."""

    kind: str
    name: str | None = None
    user_id: int | None = None
    token_id: int | None = None
    scopes: frozenset[str] = frozenset()
    # Deploy and job tokens belong to one project; the proxy signs for one project.
    project_id: int | None = None
    proxy_project: str | None = None
    proxy_level: int | None = None

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def record_kind(self) -> str:
        """The actor kind stored on package-file rows."""
        return {"user": "user", "deploy": "deploy_token", "job": "job", "proxy": "proxy"}[self.kind]


ANONYMOUS = Actor("anonymous")


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


class ProxyVerifier:
    """The trusted-proxy header: an HMAC-SHA256 over the project, actor, access
    level and expiry, with a secret shared with the proxy.

    `X-Gateway-Proxy-Auth: v1;project=<id or path>;actor=<name>;level=<0-50>;expires=<unix>;signature=<hex>`
    where signature = hex(HMAC-SHA256(secret, "v1\\n<project>\\n<actor>\\n<level>\\n<expires>")).
    """

    _FIELDS = ("project", "actor", "level", "expires", "signature")
    _ACTOR_RE = re.compile(r"\A[A-Za-z0-9_.@+-]{1,255}\Z")
    _NUMBER_RE = re.compile(r"\A[0-9]{1,12}\Z")
    _SIGNATURE_RE = re.compile(r"\A[0-9a-fA-F]{64}\Z")

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def sign(self, project: str, actor: str, level: int, expires: int) -> str:
        """The header value for these claims (what a proxy computes)."""
        signature = hmac.new(self._secret, self._message(project, actor, level, expires),
                             hashlib.sha256).hexdigest()
        return f"v1;project={project};actor={actor};level={level};expires={expires};signature={signature}"

    @staticmethod
    def _message(project: str, actor: str, level: int, expires: int) -> bytes:
        return f"v1\n{project}\n{actor}\n{level}\n{expires}".encode()

    def verify(self, header: str, now: dt.datetime) -> Actor:
        version, _, rest = header.partition(";")
        claims = dict(part.partition("=")[::2] for part in rest.split(";") if part)
        if version != "v1" or sorted(claims) != sorted(self._FIELDS):
            raise Unauthorized("malformed proxy credential")
        project, actor = claims["project"], claims["actor"]
        if (not project or not project.isprintable() or not self._ACTOR_RE.match(actor)
                or not self._NUMBER_RE.match(claims["level"])
                or not self._NUMBER_RE.match(claims["expires"])
                or not self._SIGNATURE_RE.match(claims["signature"])):
            raise Unauthorized("malformed proxy credential")
        level, expires = int(claims["level"]), int(claims["expires"])
        expected = hmac.new(self._secret, self._message(project, actor, level, expires),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, claims["signature"].lower()):
            raise Unauthorized("proxy credential signature does not match")
        if expires <= now.timestamp():
            raise Unauthorized("proxy credential expired")
        if expires - now.timestamp() > PROXY_MAX_LIFETIME.total_seconds():
            raise Unauthorized("proxy credential lives too long")
        if level not in (0, *AccessLevel):
            raise Unauthorized("proxy credential has an unknown access level")
        return Actor("proxy", name=actor, proxy_project=project, proxy_level=level)


class Authenticator:
    def __init__(self, identity: IdentityRepository, proxy_secret: str | None = None) -> None:
        self._identity = identity
        self._proxy = ProxyVerifier(proxy_secret) if proxy_secret else None

    @property
    def proxy_enabled(self) -> bool:
        return self._proxy is not None

    async def authenticate(self, credential: Credential | None) -> Actor:
        if credential is None:
            return ANONYMOUS
        now = dt.datetime.now(dt.UTC)
        if credential.kind is CredentialKind.PROXY:
            assert self._proxy is not None
            return self._proxy.verify(credential.secret, now)
        digest = token_digest(credential.secret)
        token = await self._identity.find_token(digest) if credential.secret else None
        if (token is None or token.kind not in _ACCEPTED_KINDS[credential.kind]
                or not hmac.compare_digest(token.digest, digest)):
            if credential.kind in _LENIENT:
                return ANONYMOUS
            raise Unauthorized()
        if token.revoked_at is not None:
            raise InvalidToken("Token was revoked. You have to re-authorize from the user.")
        if token.expires_at is not None and token.expires_at <= now:
            raise InvalidToken("Token is expired. You can either do re-authorization or token refresh.")
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_INTERVAL:
            await self._identity.touch_token(token.id)
        return _actor_for(token)

    async def authorize(self, project_ref: str, credential: Credential | None,
                        action: Action) -> Access:
        return await self.authorize_actor(project_ref, await self.authenticate(credential), action)

    async def authorize_actor(self, project_ref: str, actor: Actor, action: Action) -> Access:
        """`authorize` for an actor already known (the web page's signed-in user)."""
        _check_scopes(actor, action)
        project = await self._identity.find_project(project_ref)
        if actor.anonymous:
            if action in _PUBLIC_ACTIONS and project is not None and project.public:
                return Access(project, actor, None)
            raise Unauthorized()
        if actor.kind == "proxy" and (project is None or not _same_project(actor.proxy_project, project)):
            raise Unauthorized("proxy credential is for another project")
        if project is None:
            raise NotFound("Project")
        if actor.kind == "deploy" and actor.project_id == project.id:
            return Access(project, actor, None)  # rights come from its scopes, checked above
        if actor.kind == "job" and actor.project_id != project.id:
            # A job token works in its own project only.
            raise Forbidden("job token is for another project") if project.public else NotFound("Project")
        level = await self._level(actor, project)
        if level is None and not project.public:
            raise NotFound("Project")
        required = None if project.public and action in _PUBLIC_ACTIONS else REQUIRED_LEVEL[action]
        if required is not None and (level is None or level < required):
            raise Forbidden()
        return Access(project, actor, level)

    async def authorize_group(self, group_ref: str, credential: Credential | None, *,
                              include_subgroups: bool) -> GroupAccess:
        """The projects under a group whose packages the actor may list: public
        ones and those where a user is reporter or above; for deploy and job tokens
        and the proxy, only their own project. A group with none is not shown."""
        actor = await self.authenticate(credential)
        _check_scopes(actor, Action.LIST)
        group = await self._identity.find_group(group_ref)
        project_ids: list[int] = []
        if group is not None:
            project_ids = await self._group_projects(actor, group, include_subgroups)
        if not project_ids:
            if actor.anonymous:
                raise Unauthorized()
            raise NotFound("Group")
        assert group is not None
        return GroupAccess(group, actor, project_ids, await self._deletable(actor, project_ids))

    async def _deletable(self, actor: Actor, project_ids: list[int]) -> frozenset[int]:
        if actor.kind == "user":
            return frozenset(await self._identity.projects_with_level(
                actor.user_id, project_ids, AccessLevel.MAINTAINER))
        if actor.kind == "deploy":
            allowed = "write_package_registry" in actor.scopes
        elif actor.kind == "job":
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
        if actor.kind == "proxy":
            project = await self._identity.find_project(actor.proxy_project or "")
            own = project.id if project and (actor.proxy_level or 0) >= AccessLevel.REPORTER else None
        elif actor.kind == "job":
            level = await self._identity.access_level(actor.project_id, actor.user_id)
            own = actor.project_id if level is not None and level >= AccessLevel.REPORTER else None
        else:  # a deploy token
            own = actor.project_id
        if own is not None and await self._identity.project_in_group(
                group.id, own, include_subgroups=include_subgroups):
            return [own]
        return []

    async def _level(self, actor: Actor, project: Project) -> AccessLevel | None:
        if actor.kind == "proxy":
            return AccessLevel(actor.proxy_level) if actor.proxy_level else None
        if actor.user_id is None:  # a deploy token outside its project
            return None
        return await self._identity.access_level(project.id, actor.user_id)


def _actor_for(token: AccessToken) -> Actor:
    if token.kind == "deploy":
        return Actor("deploy", name=f"gitlab+deploy-token-{token.id}", token_id=token.id,
                     scopes=frozenset(token.scopes), project_id=token.project_id)
    if token.kind == "job":
        return Actor("job", name=token.username, user_id=token.user_id, token_id=token.id,
                     project_id=token.project_id)
    return Actor("user", name=token.username, user_id=token.user_id, token_id=token.id,
                 scopes=frozenset(token.scopes))


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
