"""Signed-in sessions of the web pages.

Signing in takes a personal access token once and opens a server-side session:
the cookie holds a random session id and an HMAC of it (keyed with the signing
key kept in the database), and the table holds only the id's SHA-256 digest, the
user, the token's id, a CSRF secret and the expiry. The raw token is never kept.
Revoking or expiring the token ends its sessions at once (the lookup checks it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway.auth import Actor
from gateway.web.queries import WebRepository

COOKIE_NAME = "gateway_session"
SESSION_LIFETIME = dt.timedelta(hours=12)
_SESSION_ID_BYTES = 32


@dataclass(frozen=True)
class Session:
    user_id: int
    username: str
    token_id: int
    scopes: frozenset[str]
    csrf_token: str
    expires_at: dt.datetime

    @property
    def actor(self) -> Actor:
        """Acts as the token it was opened with would on the API."""
        return Actor("user", name=self.username, user_id=self.user_id, token_id=self.token_id,
                     scopes=self.scopes)

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf_token.encode(), (sent or "").encode())


@dataclass(frozen=True)
class OpenedSession:
    cookie_value: str
    expires_at: dt.datetime


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


class SessionStore:
    def __init__(self, queries: WebRepository, signing_key: bytes) -> None:
        self._queries = queries
        self._key = signing_key

    @classmethod
    async def open(cls, queries: WebRepository) -> SessionStore:
        return cls(queries, await queries.signing_key(secrets.token_bytes(32)))

    def _sign(self, session_id: str) -> str:
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()

    def _session_id(self, cookie_value: str | None) -> str | None:
        """The session id of a cookie whose signature holds."""
        session_id, _, signature = (cookie_value or "").partition(".")
        if not session_id or len(session_id) > 100 or not signature:
            return None
        if not hmac.compare_digest(self._sign(session_id).encode(), signature.encode("ascii", "replace")):
            return None
        return session_id

    async def start(self, actor: Actor) -> OpenedSession:
        """A session for a user signed in with a personal token (its expiry is
        checked at every lookup, so the session never outlives it)."""
        assert actor.kind == "user" and actor.user_id is not None and actor.token_id is not None
        expires_at = dt.datetime.now(dt.UTC) + SESSION_LIFETIME
        session_id = secrets.token_urlsafe(_SESSION_ID_BYTES)
        await self._queries.insert_session(_digest(session_id), actor.user_id, actor.token_id,
                                           secrets.token_urlsafe(32), expires_at)
        return OpenedSession(f"{session_id}.{self._sign(session_id)}", expires_at)

    async def find(self, cookie_value: str | None) -> Session | None:
        session_id = self._session_id(cookie_value)
        if session_id is None:
            return None
        row = await self._queries.find_session(_digest(session_id))
        if row is None:
            return None
        return Session(row.user_id, row.username, row.token_id, frozenset(row.scopes),
                       row.csrf_secret, row.expires_at)

    async def end(self, cookie_value: str | None) -> None:
        session_id = self._session_id(cookie_value)
        if session_id is not None:
            await self._queries.delete_session(_digest(session_id))
