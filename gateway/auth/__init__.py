"""Authentication and authorisation, as GitLab's package endpoints do them.

- `credentials`: reading the credentials a request carries (headers, query);
- `tokens`: making access tokens and checking one that was sent;
- `proxy`: the trusted proxy's signed header;
- `actors`: who acts, once their credential is checked;
- `access`: actor + project -> what they may do there, with GitLab's codes.
"""

from gateway.auth.access import (
    REQUIRED_LEVEL, Access, Action, Authenticator, GroupAccess, Surface,
)
from gateway.auth.actors import ANONYMOUS, Actor
from gateway.auth.credentials import PROXY_HEADER, Credentials, read_credentials
from gateway.auth.proxy import PROXY_MAX_LIFETIME, ProxyVerifier
from gateway.auth.tokens import (
    DEPLOY_SCOPES, PERSONAL_SCOPES, TOKEN_PREFIXES, TokenVerifier, generate_token, token_digest,
)

__all__ = [
    "ANONYMOUS", "DEPLOY_SCOPES", "PERSONAL_SCOPES", "PROXY_HEADER",
    "PROXY_MAX_LIFETIME", "REQUIRED_LEVEL", "TOKEN_PREFIXES", "Access",
    "Action", "Actor", "Authenticator", "Credentials", "GroupAccess", "ProxyVerifier", "Surface",
    "TokenVerifier", "generate_token", "read_credentials", "token_digest",
]
