from __future__ import annotations

import datetime as dt

import pytest

from gateway.auth import ProxyVerifier
from gateway.errors import Unauthorized

SECRET = "k" * 40


def test_proxy_header_round_trip() -> None:
    verifier = ProxyVerifier(SECRET)
    now = dt.datetime.now(dt.UTC)
    header = verifier.sign("group/app", "alice", 30, int(now.timestamp()) + 60)
    actor = verifier.verify(header, now)
    assert (actor.kind, actor.name, actor.proxy_project, actor.proxy_level) == (
        "proxy", "alice", "group/app", 30)


@pytest.mark.parametrize("expires", [999_999_999_999, 0])
def test_proxy_expiry_far_away_is_401_not_500(expires: int) -> None:
    verifier = ProxyVerifier(SECRET)
    with pytest.raises(Unauthorized):
        verifier.verify(verifier.sign("1", "bob", 30, expires), dt.datetime.now(dt.UTC))


@pytest.mark.parametrize("header", [
    "v2;project=1;actor=a;level=30;expires=1;signature=" + "0" * 64,
    "v1;project=1;actor=a;level=\u00b2;expires=1;signature=" + "0" * 64,
    "v1;project=1;actor=a;level=30;expires=1;signature=\u00e9" + "0" * 63,
    "v1;project=1;actor=a b;level=30;expires=1;signature=" + "0" * 64,
    "v1;project=1;actor=a;level=30;expires=1",
    "",
])
def test_malformed_proxy_headers_are_401(header: str) -> None:
    with pytest.raises(Unauthorized):
        ProxyVerifier(SECRET).verify(header, dt.datetime.now(dt.UTC))


def test_unknown_level_is_401() -> None:
    verifier = ProxyVerifier(SECRET)
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(Unauthorized):
        verifier.verify(verifier.sign("1", "a", 35, int(now.timestamp()) + 60), now)
