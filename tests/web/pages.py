"""Helpers for the page tests: signing in, reading forms, pushing packages."""

from __future__ import annotations

import re
from typing import Any

from tests.harness import Gateway, Identity

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(gateway: Gateway, who: Identity) -> None:
    """Signs the test client in (its cookie jar keeps the session)."""
    response = await gateway.client.post("/-/sign_in", data={"token": who.token, "next": "/"},
                                         allow_redirects=False)
    assert response.status == 303, await response.text()


async def page(gateway: Gateway, path: str, status: int = 200, **kwargs: Any) -> str:
    response = await gateway.client.get(path, allow_redirects=False, **kwargs)
    text = await response.text()
    assert response.status == status, text
    return text


def csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def push(gateway: Gateway, who: Identity, data: bytes, **kwargs: Any) -> dict[str, Any]:
    response = await gateway.put(who, data, params={"select": "package_file"}, **kwargs)
    assert response.status == 200, await response.text()
    return await response.json()


async def member(gateway: Gateway, role: str, project: dict[str, Any]) -> Identity:
    return await gateway.user(role, project)
