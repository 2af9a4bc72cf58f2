"""A real webhook receiver on 127.0.0.1, and gateways that may call it."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.harness import Gateway, GatewayFactory, Identity

HOOK_SECRET = "s3cret-for-tests"
# Fast retries and polling, so the tests do not wait on production delays.
FAST_HOOKS = {"allow_local_hooks": True, "hook_backoff_base": 0.05, "hook_poll_interval": 0.2}


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    def signature_verifies(self, secret: str = HOOK_SECRET) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("X-Gateway-Signature-256", ""))


@dataclass
class Receiver:
    """Records each delivery it answers 200; `statuses` are answered first, in
    turn; while `hold` is set, requests hang (and are not recorded)."""

    url: str = ""
    delivered: list[Delivery] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    requests: int = 0
    hold: asyncio.Event | None = None
    held: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if self.hold is not None:
            self.held += 1
            await self.hold.wait()
            return web.Response(status=503)
        if self.statuses:
            return web.Response(status=self.statuses.pop(0))
        self.delivered.append(Delivery(dict(request.headers), body))
        return web.Response(status=200)

    def event_ids(self) -> list[str]:
        return [d.headers["X-Gateway-Delivery"] for d in self.delivered]


@pytest.fixture
async def receiver(aiohttp_server: Any) -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    recv.url = str(server.make_url("/hook"))
    yield recv
    if recv.hold is not None:
        recv.hold.set()


@pytest.fixture
def hooked_gateway(gateway_factory: GatewayFactory) -> Callable[..., Awaitable[Gateway]]:
    async def make(storage: str = "fs", **overrides: Any) -> Gateway:
        return await gateway_factory(storage, **{**FAST_HOOKS, **overrides})
    return make


async def add_hook(gateway: Gateway, who: Identity, url: str, **fields: Any) -> dict[str, Any]:
    response = await gateway.client.post(
        f"/api/v4/projects/{who.project_id}/packages/hooks", headers=who.headers,
        json={"url": url, "secret": HOOK_SECRET, **fields})
    assert response.status == 201, await response.text()
    return await response.json()


async def deliveries(gateway: Gateway, who: Identity, hook_id: int) -> list[dict[str, Any]]:
    response = await gateway.client.get(
        f"/api/v4/projects/{who.project_id}/packages/hooks/{hook_id}/deliveries", headers=who.headers)
    assert response.status == 200, await response.text()
    return await response.json()
