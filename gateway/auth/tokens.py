"""Access tokens: making them, their digests and scopes, and checking one sent
with a request.

An unknown Basic password or Deploy-Token is ignored (the request goes on as
anonymous), as GitLab does, so public downloads keep working with stale CI
credentials; a token that is known but expired or revoked is always 401.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from gateway.auth.actors import ANONYMOUS, Actor
from gateway.auth.credentials import Credential, CredentialKind
from gateway.db.identity import AccessToken, IdentityRepository
from gateway.errors import InvalidToken, Unauthorized

TOKEN_PREFIXES = {"personal": "glpat-", "deploy": "gldt-", "job": "glcbt-"}
PERSONAL_SCOPES = ("api", "read_api")
DEPLOY_SCOPES = ("read_package_registry", "write_package_registry")
# last_used_at is informative; writing it on every request would make reads write.
_TOUCH_INTERVAL = dt.timedelta(minutes=10)

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


def generate_token(kind: str) -> str:
    return TOKEN_PREFIXES[kind] + secrets.token_urlsafe(24)


def token_digest(secret: str) -> bytes:
    """Tokens are random 192-bit secrets, so a plain SHA-256 is a safe digest.
    (surrogateescape: header bytes that are not UTF-8 digest too, and match nothing.)"""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


class TokenVerifier:
    def __init__(self, identity: IdentityRepository) -> None:
        self._identity = identity

    async def verify(self, credential: Credential, now: dt.datetime, *,
                     deploy_tokens: bool = True) -> Actor:
        """The actor behind a token. Where `deploy_tokens` is off (GitLab's Packages
        API does not read them) a deploy token is as if not sent: anonymous."""
        accepted = _ACCEPTED_KINDS[credential.kind] - (set() if deploy_tokens else {"deploy"})
        if not accepted:
            return ANONYMOUS
        digest = token_digest(credential.secret)
        token = await self._identity.find_token(digest) if credential.secret else None
        if (token is None or token.kind not in accepted
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
