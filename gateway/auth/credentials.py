"""Reading a credential from request headers, every way GitLab accepts one.

Credential kinds: personal access tokens (`PRIVATE-TOKEN`, `Authorization:
Bearer`), CI job tokens (`JOB-TOKEN`), deploy tokens (`Deploy-Token`), any of
them as the HTTP Basic password, and the trusted proxy's signed header.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from enum import Enum

from multidict import CIMultiDictProxy

PROXY_HEADER = "X-Gateway-Proxy-Auth"


class CredentialKind(Enum):
    PRIVATE_TOKEN = "private_token"
    BEARER = "bearer"
    BASIC = "basic"
    JOB_TOKEN = "job_token"
    DEPLOY_TOKEN = "deploy_token"
    PROXY = "proxy"


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
