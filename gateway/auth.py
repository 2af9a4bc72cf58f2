"""Credentials -> actor, and actor + project -> what they may do there.

The codes follow GitLab's generic package endpoints: bad credentials 401; a
project the actor cannot see 404 (never reveal it); seen but not allowed 403.
An unknown Basic password is ignored (the request goes on as anonymous), as
GitLab does, so public downloads keep working with stale CI credentials.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from enum import Enum

from multidict import CIMultiDictProxy

from gateway.db.identity import IdentityRepository
from gateway.errors import InsufficientScope, InvalidToken, NotFound, Unauthorized, Forbidden
from gateway.models import AccessLevel, Project

PERSONAL_TOKEN_PREFIX = "glpat-"
SCOPES = ("api", "read_api")
# last_used_at is informative; writing it on every request would make reads write.
_TOUCH_INTERVAL = dt.timedelta(minutes=10)


def generate_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def token_digest(secret: str) -> bytes:
    """Tokens are random 192-bit secrets, so a plain SHA-256 is a safe digest."""
    return hashlib.sha256(secret.encode()).digest()


class Action(Enum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"


REQUIRED_LEVEL = {
    Action.READ: None,
    Action.WRITE: AccessLevel.DEVELOPER,
    Action.DELETE: AccessLevel.MAINTAINER,
}


class CredentialKind(Enum):
    PRIVATE_TOKEN = "private_token"
    BEARER = "bearer"
    BASIC = "basic"


@dataclass(frozen=True)
class Credential:
    kind: CredentialKind
    secret: str = field(repr=False)


def read_credential(headers: CIMultiDictProxy[str]) -> Credential | None:
    if token := headers.get("PRIVATE-TOKEN"):
        return Credential(CredentialKind.PRIVATE_TOKEN, token.strip())
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credential(CredentialKind.BEARER, value.strip())
    if scheme.lower() == "basic":
        return Credential(CredentialKind.BASIC, _basic_password(value.strip()))
    return None


def _basic_password(encoded: str) -> str:
    """The password of a Basic header; GitLab ignores the user name."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


@dataclass(frozen=True)
class Actor:
    kind: str  # "anonymous" or "user"
    user_id: int | None = None
    username: str | None = None
    token_id: int | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    def allows(self, action: Action) -> bool:
        """Whether the token's scopes cover the action (roles are checked apart)."""
        if action is Action.READ:
            return bool(self.scopes & {"api", "read_api"})
        return "api" in self.scopes


ANONYMOUS = Actor("anonymous")


@dataclass(frozen=True)
class Access:
    """An authorised request: who acts, on which project, with which role."""

    project: Project
    actor: Actor
    level: AccessLevel | None


class Authenticator:
    def __init__(self, identity: IdentityRepository) -> None:
        self._identity = identity

    async def authenticate(self, credential: Credential | None) -> Actor:
        if credential is None:
            return ANONYMOUS
        token = await self._identity.find_personal_token(token_digest(credential.secret)) \
            if credential.secret else None
        if token is None or not hmac.compare_digest(token.digest, token_digest(credential.secret)):
            if credential.kind is CredentialKind.BASIC:
                return ANONYMOUS
            raise Unauthorized()
        now = dt.datetime.now(dt.UTC)
        if token.revoked_at is not None:
            raise InvalidToken("Token was revoked. You have to re-authorize from the user.")
        if token.expires_at is not None and token.expires_at <= now.date():
            raise InvalidToken("Token is expired. You can either do re-authorization or token refresh.")
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_INTERVAL:
            await self._identity.touch_personal_token(token.id)
        return Actor("user", user_id=token.user_id, username=token.username, token_id=token.id,
                     scopes=frozenset(token.scopes))

    async def authorize(self, project_ref: str, credential: Credential | None,
                        action: Action) -> Access:
        actor = await self.authenticate(credential)
        if not actor.anonymous and not actor.allows(action):
            raise InsufficientScope("api")
        project = await self._identity.find_project(project_ref)
        if actor.anonymous:
            if action is Action.READ and project is not None and project.public:
                return Access(project, actor, None)
            raise Unauthorized()
        if project is None:
            raise NotFound("Project")
        level = await self._identity.access_level(project.id, actor.user_id)
        if level is None and not project.public:
            raise NotFound("Project")
        required = REQUIRED_LEVEL[action]
        if required is not None and (level is None or level < required):
            raise Forbidden()
        return Access(project, actor, level)
