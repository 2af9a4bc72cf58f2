"""The webhook worker: delivers queued events from the outbox, at least once.

Every `serve` process runs one. Deliveries are claimed with FOR UPDATE SKIP
LOCKED and leased for longer than one attempt can take, so processes share the
work without sending an event twice, and a process that dies mid-attempt only
delays its deliveries until the lease runs out. A commit that queued deliveries
notifies every listening process (PostgreSQL NOTIFY, sent at commit); each also
looks every few seconds, in case it missed one. Uploads never wait for any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import random
import time
from typing import Any

import aiohttp
import asyncpg

from gateway.db.session_state import holds_session_state
from gateway.errors import GatewayError
from gateway.events.destinations import GuardedResolver, refused_literal
from gateway.events.payload import event_json
from gateway.events.repository import EventRepository
from gateway.logs import get_logger
from gateway.metrics import WEBHOOK_DELIVERIES
from gateway.settings import Settings
from gateway.background import wait_event

log = get_logger(__name__)

CHANNEL = "package_hook_deliveries"
ATTEMPT_TIMEOUT = 10.0
# Longer than an attempt can take: a lease only runs out when its process died.
LEASE_SECONDS = 60.0
RETRY_WINDOW = dt.timedelta(hours=24)
MAX_BACKOFF = 3600.0
BATCH_SIZE = 20
USER_AGENT = "gitlab-generic-gateway-hooks"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, base: float, rng: random.Random | None = None) -> float:
    """Exponential, capped, with jitter: half the delay fixed, half random, so
    retries of many deliveries after an outage spread out."""
    delay = min(MAX_BACKOFF, base * 2 ** max(attempts - 1, 0))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


class HookDeliverer:
    def __init__(self, events: EventRepository, pool: asyncpg.Pool, settings: Settings) -> None:
        self._events = events
        self._pool = pool
        self._settings = settings
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._in_flight: set[int] = set()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """From app start to app cleanup; its first round picks up whatever an
        earlier process left queued."""
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._settings.allow_local_hooks))
        async with aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT),
                headers={"User-Agent": USER_AGENT}) as session:
            try:
                while True:
                    self._wake.clear()
                    try:
                        await self._listen()
                        await self.deliver_due(session)
                    except (GatewayError, OSError, asyncpg.PostgresError) as exc:
                        log.error("hook_delivery_round_failed", error=str(exc))
                    except Exception:
                        log.exception("hook_delivery_round_failed")
                    await wait_event(self._wake, self._settings.hook_poll_interval)
            finally:
                await self._unlisten()

    async def _listen(self) -> None:
        """Hold one connection that hears commits of other processes (and ours)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        await self._unlisten()
        # Kept from the moment it is acquired, so that _unlisten releases it
        # however this ends (a cancellation at app stop included): a connection
        # left out of the pool would hold up the pool's close.
        self._listener = await self._pool.acquire()
        try:
            holds_session_state(self._listener)
            await self._listener.add_listener(CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self._unlisten()
            log.warning("hook_listen_failed", error=str(exc), note="polling only")

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            if not conn.is_closed():
                await conn.remove_listener(CHANNEL, self._notified)
        with contextlib.suppress(Exception):
            await self._pool.release(conn)

    def _notified(self, *_: Any) -> None:
        self.wake()

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        """Attempt every due delivery, a batch at a time; returns how many were tried."""
        tried = 0
        while True:
            rows = await self._events.claim_due(BATCH_SIZE, LEASE_SECONDS)
            self._in_flight.update(row["delivery_id"] for row in rows)
            try:
                outcomes = await asyncio.gather(*(self._attempt(session, row) for row in rows),
                                                return_exceptions=True)
            except asyncio.CancelledError:
                # Stopping: give the unfinished leases back, so any process retries now.
                unfinished, self._in_flight = list(self._in_flight), set()
                if unfinished:
                    with contextlib.suppress(Exception):
                        await self._events.release(unfinished)
                raise
            for row, outcome in zip(rows, outcomes, strict=True):
                self._in_flight.discard(row["delivery_id"])
                if isinstance(outcome, Exception):
                    # Its lease stands: it is tried again when the lease runs out.
                    log.error("hook_attempt_not_recorded", delivery_id=row["delivery_id"],
                              error=repr(outcome))
            tried += len(rows)
            if len(rows) < BATCH_SIZE:
                return tried

    async def _attempt(self, session: aiohttp.ClientSession, row: Any) -> None:
        body = json.dumps(event_json(row, self._settings.external_url, with_client=False),
                          separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Gateway-Event": row["kind"],
                   "X-Gateway-Delivery": str(row["id"])}
        if row["secret"]:
            headers["X-Gateway-Signature-256"] = signature(row["secret"], body)
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            if refused_literal(row["url"], self._settings.allow_local_hooks):
                raise OSError("url points at a loopback or link-local address")
            async with session.post(row["url"], data=body, headers=headers,
                                    allow_redirects=False) as response:
                status_code = response.status
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = round((time.perf_counter() - started) * 1000)
        await self._finish(row, status_code, duration_ms, error)

    async def _finish(self, row: Any, status_code: int | None, duration_ms: int,
                      error: str | None) -> None:
        retry_in = None
        if error is None:
            status = "delivered"
        elif dt.datetime.now(dt.UTC) - row["queued_at"] >= RETRY_WINDOW:
            status = "failed"
        else:
            status, retry_in = "pending", backoff(row["attempts"], self._settings.hook_backoff_base)
        await self._events.finish_attempt(row["delivery_id"], status_code, duration_ms, error,
                                          status, retry_in)
        WEBHOOK_DELIVERIES.labels("delivered" if error is None else "failed").inc()
        fields = {"hook_id": row["hook_id"], "delivery_id": row["delivery_id"],
                  "event_id": str(row["id"]), "attempt": row["attempts"],
                  "status_code": status_code, "duration_ms": duration_ms}
        if error is None:
            log.info("hook_delivered", **fields)
        else:
            log.warning("hook_attempt_failed", **fields, error=error, outcome=status,
                        retry_in_s=round(retry_in, 2) if retry_in is not None else None)
