"""Where hooks may point: never at the gateway's own host (loopback) or at
link-local addresses (cloud metadata services), unless the operator allows it.

Checked when a hook is added, and again at every delivery by the HTTP client's
resolver, so a name that later resolves somewhere local is still refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

from aiohttp import ThreadedResolver
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from gateway.errors import BadRequest


class RefusedDestination(OSError):
    pass


def local_address(host: str) -> bool:
    """Loopback, link-local or unspecified (which reaches this host too)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified


def parse_hook_url(text: str) -> URL:
    try:
        url = URL(text.strip())
    except (ValueError, TypeError):
        raise BadRequest("url is invalid") from None
    if url.scheme not in ("http", "https") or not url.host or not text.isprintable() \
            or len(text) > 2000:
        raise BadRequest("url must be an http or https URL")
    return url


async def check_hook_url(text: str, *, allow_local: bool) -> str:
    """The URL as stored; refused when it resolves to a local address."""
    url = parse_hook_url(text)
    if allow_local:
        return str(url)
    assert url.host is not None
    if url.host.lower() == "localhost" or local_address(url.host):
        raise BadRequest("url points at a loopback or link-local address")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(url.host, url.port,
                                                             type=socket.SOCK_STREAM)
    except OSError:
        raise BadRequest("url host does not resolve") from None
    if any(local_address(str(info[4][0])) for info in infos):
        raise BadRequest("url points at a loopback or link-local address")
    return str(url)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, minus local addresses (unless allowed)."""

    def __init__(self, allow_local: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_local = allow_local

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow_local:
            return results
        kept = [r for r in results if not local_address(r["host"])]
        if not kept:
            raise RefusedDestination(f"{host} resolves to a loopback or link-local address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def refused_literal(url: Any, allow_local: bool) -> bool:
    """IP-literal hosts skip the resolver: check them here."""
    host = URL(url).host or ""
    return not allow_local and (host.lower() == "localhost" or local_address(host))
