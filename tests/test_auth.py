from __future__ import annotations

import base64
import datetime as dt

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.auth import (
    PROXY_HEADER, Credentials, ProxyVerifier, TokenVerifier, read_credentials, token_digest,
)
from gateway.db.identity import AccessToken
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


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()


@pytest.mark.parametrize(("headers", "query", "expected"), [
    ({"PRIVATE-TOKEN": "h"}, {}, {"private_token": "h"}),
    ({}, {"private_token": "q"}, {"private_token": "q"}),
    ({"PRIVATE-TOKEN": "h"}, {"private_token": "q"}, {"private_token": "q"}),  # the query first
    ({"PRIVATE-TOKEN": "h"}, {"private_token": "  "}, {"private_token": "h"}),  # blank: absent
    ({"Authorization": "Bearer b"}, {}, {"oauth_token": "b"}),
    ({"Authorization": "Bearer b"}, {"access_token": "a"}, {"oauth_token": "a"}),
    ({}, {"bearer_token": "b"}, {"oauth_token": "b"}),
    ({"JOB-TOKEN": "h"}, {}, {"job_token": "h"}),
    ({"JOB-TOKEN": "h"}, {"token": "t"}, {"job_token": "t"}),
    ({"JOB-TOKEN": "h"}, {"token": "t", "job_token": "j"}, {"job_token": "j"}),
    ({"Deploy-Token": "d"}, {"deploy_token": "ignored"}, {"deploy_token": "d"}),
    ({"Authorization": _basic("p")}, {}, {"basic_password": "p"}),
    ({"Authorization": "Basic %%%"}, {}, {"basic_password": ""}),
    ({"PRIVATE-TOKEN": "p", "JOB-TOKEN": "j"}, {"access_token": "a"},
     {"private_token": "p", "job_token": "j", "oauth_token": "a"}),
    ({}, {"page": "2"}, {}),
])
def test_credentials_are_read_from_headers_and_query(headers: dict[str, str], query: dict[str, str],
                                                     expected: dict[str, str]) -> None:
    sent = read_credentials(CIMultiDictProxy(CIMultiDict(headers)), MultiDictProxy(MultiDict(query)))
    assert sent == Credentials(**expected)
    assert sent.sent == bool(expected)


def test_a_repeated_query_token_counts_once_its_last_value() -> None:
    query = MultiDictProxy(MultiDict([("private_token", "first"), ("private_token", "last")]))
    assert read_credentials(CIMultiDictProxy(CIMultiDict()), query).private_token == "last"


def test_the_proxy_header_is_the_only_credential_read_in_proxy_mode() -> None:
    headers = CIMultiDictProxy(CIMultiDict({PROXY_HEADER: "v1;x", "PRIVATE-TOKEN": "p"}))
    query = MultiDictProxy(MultiDict({"job_token": "j"}))
    assert read_credentials(headers, query, proxy_enabled=True) == Credentials(proxy="v1;x")
    assert read_credentials(headers, query).proxy is None


def test_secrets_are_not_in_the_repr() -> None:
    sent = Credentials(private_token="glpat-a", oauth_token="b", job_token="c", deploy_token="d",
                       basic_password="e", proxy="f")
    assert not any(secret in repr(sent) for secret in ("glpat-a", "'b'", "'c'", "'d'", "'e'", "'f'"))


class _Tokens:
    """An identity repository that knows some tokens by secret."""

    def __init__(self, **kinds: str) -> None:
        self.tokens = {token_digest(secret): AccessToken(
            id=n, kind=kind, digest=token_digest(secret), user_id=n, project_id=1, username=secret,
            scopes=("api",), expires_at=None, revoked_at=None, last_used_at=dt.datetime.now(dt.UTC),
            ci_pipeline_id=None, ci_job_id=None) for n, (secret, kind) in enumerate(kinds.items())}

    async def find_token(self, digest: bytes) -> AccessToken | None:
        return self.tokens.get(digest)


@pytest.mark.parametrize(("sent", "deploy_tokens", "acts"), [
    # GitLab's order: deploy (generic routes), job as bearer, personal (unknown: 401),
    # Basic as personal or job, job token (unknown: 401).
    (Credentials(deploy_token="dep", private_token="pat"), True, "dep"),
    (Credentials(deploy_token="dep", private_token="pat"), False, "pat"),
    (Credentials(deploy_token="unknown", private_token="pat"), True, "pat"),
    (Credentials(oauth_token="dep"), True, "dep"),
    (Credentials(oauth_token="dep"), False, 401),  # looked up as a personal token
    (Credentials(oauth_token="job"), False, "job"),
    (Credentials(oauth_token="pat"), False, "pat"),
    (Credentials(oauth_token="unknown", job_token="job"), True, 401),
    (Credentials(private_token="pat", job_token="job"), True, "pat"),
    (Credentials(private_token="unknown", job_token="job"), True, 401),
    (Credentials(private_token="job"), True, 401),
    (Credentials(job_token="pat"), True, 401),
    (Credentials(job_token="unknown"), True, 401),
    (Credentials(basic_password="unknown", job_token="job"), True, "job"),
    (Credentials(basic_password="dep", deploy_token="unknown"), True, "dep"),
    (Credentials(basic_password="unknown", deploy_token="dep"), True, "anonymous"),
    (Credentials(basic_password="dep"), False, "anonymous"),
    (Credentials(deploy_token="dep"), False, "anonymous"),
])
async def test_the_actor_is_found_in_gitlabs_order(sent: Credentials, deploy_tokens: bool,
                                                   acts: str | int) -> None:
    verifier = TokenVerifier(_Tokens(pat="personal", job="job", dep="deploy"))  # type: ignore[arg-type]
    now = dt.datetime.now(dt.UTC)
    if acts == 401:
        with pytest.raises(Unauthorized):
            await verifier.verify(sent, now, deploy_tokens=deploy_tokens)
        return
    actor = await verifier.verify(sent, now, deploy_tokens=deploy_tokens)
    kind = {"dep": "deploy", "pat": "user", "job": "job", "anonymous": "anonymous"}[str(acts)]
    assert actor.kind == kind
    if kind in {"user", "job"}:
        assert actor.name == acts
