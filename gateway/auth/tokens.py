"""Access tokens: making them, their digests and scopes, and checking one sent
with a request.

An unknown Basic password or Deploy-Token is ignored (the request goes on as
anonymous), as GitLab does, so public downloads keep working with stale CI
credentials; an unknown personal or job token is 401, whether sent in a header or
the query string; a token that is known but expired or revoked is always 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway.auth.actors import ANONYMOUS, Actor
from gateway.auth.credentials import Credentials
from gateway.db.identity import AccessToken, IdentityRepository
from gateway.errors import InvalidToken, Unauthorized

TOKEN_PREFIXES = {"personal": "glpat-", "deploy": "gldt-", "job": "glcbt-"}
PERSONAL_SCOPES = ("api", "read_api")
DEPLOY_SCOPES = ("read_package_registry", "write_package_registry")
# last_used_at is informative; writing it on every request would make reads write.
_TOUCH_INTERVAL = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class _Attempt:
    """One step of GitLab's search for the actor: a slot, the token kinds it may
    carry there, and whether an unknown secret ends the search with 401 (strict)
    or lets it go on (lenient)."""

    secret: str | None
    kinds: frozenset[str]
    strict: bool


def _attempts(sent: Credentials, deploy_tokens: bool) -> list[_Attempt]:
    """GitLab's order (APIGuard#find_user_from_sources): the deploy token
    (`Deploy-Token` or the OAuth token, the Basic password instead when Basic was
    sent), on routes that read them; a job token as the OAuth token; the personal
    token (`private_token`, `PRIVATE-TOKEN`, the OAuth token), unknown = 401; the
    Basic password as a personal or job token; the job token (`job_token`,
    `token`, `JOB-TOKEN`), unknown = 401. The first that finds a token acts; a
    second credential sent is not looked at, as in GitLab."""
    deploy_secret = _first_sent(sent.basic_password, sent.deploy_token, sent.oauth_token)
    return [
        *([_Attempt(deploy_secret, frozenset({"deploy"}), strict=False)] if deploy_tokens else []),
        _Attempt(sent.oauth_token, frozenset({"job"}), strict=False),
        _Attempt(_first_sent(sent.private_token, sent.oauth_token), frozenset({"personal"}), strict=True),
        # GitLab insists on the user `gitlab-ci-token` for a job token in Basic; we
        # ignore the user name, and an unknown Basic password is anonymous.
        _Attempt(sent.basic_password, frozenset({"personal", "job"}), strict=False),
        _Attempt(sent.job_token, frozenset({"job"}), strict=True),
    ]


def _first_sent(*secrets_sent: str | None) -> str | None:
    return next((secret for secret in secrets_sent if secret is not None), None)


def generate_token(kind: str) -> str:
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(24)


def token_digest(secret: str) -> bytes:
    """Tokens are random 192-bit secrets, so a plain SHA-256 is a safe digest.
    (surrogateescape: header bytes that are not UTF-8 digest too, and match nothing.)"""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


class TokenVerifier:
    def __init__(self, identity: IdentityRepository) -> None:
        self._identity = identity

    async def verify(self, sent: Credentials, now: dt.datetime, *,
                     deploy_tokens: bool = True) -> Actor:
        """The actor behind the tokens sent. Where `deploy_tokens` is off (GitLab's
        Packages API does not read them) a deploy token in `Deploy-Token` or Basic
        is as if not sent: anonymous."""
        found: dict[str, AccessToken | None] = {}  # one lookup per secret
        for attempt in _attempts(sent, deploy_tokens):
            if attempt.secret is None:
                continue
            if attempt.secret not in found:
                found[attempt.secret] = await self._find(attempt.secret)
            token = found[attempt.secret]
            if token is not None and token.kind in attempt.kinds:
                return await self._checked(token, now)
            if attempt.strict:
                raise Unauthorized()
        return ANONYMOUS

    async def _find(self, secret: str) -> AccessToken | None:
        if not secret:
            return None
        digest = token_digest(secret)
        token = await self._identity.find_token(digest)
        return token if token is not None and hmac.compare_digest(token.digest, digest) else None

    async def _checked(self, token: AccessToken, now: dt.datetime) -> Actor:
        """A known token of the right kind: expired or revoked is 401."""
        if token.revoked_at is not None:
            raise InvalidToken("Token was revoked. You have to re-authorize from the user.")
        if token.expires_at is not None and token.expires_at <= now:
            raise InvalidToken("Token is expired. You can either do re-authorization or token refresh.")
        if token.last_used_at is None or now - token.last_used_at > _TOUCH_INTERVAL:
            await self._identity.touch_token(token.id)
        return _actor_for(token)


def _actor_for(token: AccessToken) -> Actor:
    if token.kind == "deploy":
        return Actor("deploy", name=f"gitlab+deploy-token-{token.id}", token_id=token.id,
                     scopes=frozenset(token.scopes), project_id=token.project_id)
    if token.kind == "job":
        return Actor("job", name=token.username, user_id=token.user_id, token_id=token.id,
                     project_id=token.project_id, ci_pipeline_id=token.ci_pipeline_id,
                     ci_job_id=token.ci_job_id)
    return Actor("user", name=token.username, user_id=token.user_id, token_id=token.id,
                 scopes=frozenset(token.scopes))
