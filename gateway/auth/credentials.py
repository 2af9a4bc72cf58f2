"""Reading the credentials a request carries, every way GitLab accepts one.

GitLab reads a personal access token from the `private_token` parameter or the
`PRIVATE-TOKEN` header; an OAuth-style token from the `access_token` parameter,
`Authorization: Bearer` or the `bearer_token` parameter; a CI job token from the
`job_token` or `token` parameter or the `JOB-TOKEN` header; a deploy token from
`Deploy-Token`; and any of them as the HTTP Basic password. Each slot keeps the
first of its sources that is not blank (Rails' `.presence`); which slot acts is
decided in `tokens`, in GitLab's order. The trusted proxy's signed header, when
that mode is on, is the only credential read.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field, fields

from multidict import CIMultiDictProxy, MultiMapping

PROXY_HEADER = "X-Gateway-Proxy-Auth"


@dataclass(frozen=True)
class Credentials:
    """What one request sent, in GitLab's slots; None where nothing was sent."""

    private_token: str | None = field(default=None, repr=False)
    oauth_token: str | None = field(default=None, repr=False)
    job_token: str | None = field(default=None, repr=False)
    deploy_token: str | None = field(default=None, repr=False)
    basic_password: str | None = field(default=None, repr=False)  # "" when not decodable
    proxy: str | None = field(default=None, repr=False)

    @property
    def sent(self) -> bool:
        return any(getattr(self, slot.name) is not None for slot in fields(self))



def read_credentials(headers: CIMultiDictProxy[str], query: MultiMapping[str], *,
                     proxy_enabled: bool = False) -> Credentials:
    if proxy_enabled and (signed := headers.get(PROXY_HEADER)):
        return Credentials(proxy=signed.strip())
    scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
    bearer = value if scheme.lower() == "bearer" else None
    return Credentials(
        private_token=_first(_param(query, "private_token"), headers.get("PRIVATE-TOKEN")),
        oauth_token=_first(_param(query, "access_token"), bearer, _param(query, "bearer_token")),
        job_token=_first(_param(query, "job_token"), _param(query, "token"),
                         headers.get("JOB-TOKEN")),
        deploy_token=_first(headers.get("Deploy-Token")),
        basic_password=_basic_password(value.strip()) if scheme.lower() == "basic" else None,
    )


def _param(query: MultiMapping[str], name: str) -> str | None:
    """A repeated parameter counts once, its last value, as Rack parses it."""
    values = query.getall(name, [])
    return values[-1] if values else None


def _first(*sources: str | None) -> str | None:
    for source in sources:
        if source is not None and source.strip():
            return source.strip()
    return None


def _basic_password(encoded: str) -> str:
    """The password of a Basic header; GitLab ignores the user name
    (`gitlab-ci-token` for job tokens, anything at all otherwise)."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # not base64 (ValueError: not even ASCII), not UTF-8
        return ""
    return decoded.partition(":")[2]
