"""The trusted proxy's signed header: who acts, at which level, in which project."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from gateway.auth.actors import Actor
from gateway.errors import Unauthorized
from gateway.models import AccessLevel

# A signed proxy header is a per-request assertion; it may not live longer than this.
PROXY_MAX_LIFETIME = dt.timedelta(hours=1)


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
