"""HTTP details shared by handlers: request bodies, ranges, conditional requests."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.auth import (
    Access, Action, Authenticator, Credentials, GroupAccess, Surface, read_credentials,
)
from gateway.errors import BadRequest, InvalidField, RangeNotSatisfiable, UploadInterrupted
from gateway.keys import AUTHENTICATOR
from gateway.upload import ExpectedDigests
from gateway.web.visitor import api_session_actor

_SHA256_RE = re.compile(r"\A[0-9a-fA-F]{64}\Z")
CONTINUE_DEFERRED = web.RequestKey("continue_deferred", bool)
_RANGE_SPEC_RE = re.compile(r"\A([0-9]*)-([0-9]*)\Z")  # one range; ASCII digits only


# Raw path: ['', 'api', 'v4', 'projects' or 'groups', ID, ...]
_ID_SEGMENT = 4


def raw_id_segment(request: web.Request) -> str:
    """The project or group `:id` as sent (`group%2Fproject` stays one segment)."""
    return request.rel_url.raw_path.split("/")[_ID_SEGMENT]


def _credential(request: web.Request) -> tuple[Authenticator, Credentials]:
    authenticator = request.app[AUTHENTICATOR]
    return authenticator, read_credentials(request.headers, request.query,
                                           proxy_enabled=authenticator.proxy_enabled)


def request_credential(request: web.Request) -> Credentials:
    return _credential(request)[1]


async def authorize(request: web.Request, project_ref: str, action: Action,
                    surface: Surface = Surface.GENERIC) -> Access:
    """Who is asking, and may they do this here; bound to the request's log line."""
    authenticator, credential = _credential(request)
    if not credential.sent and (signed_in := await api_session_actor(request)) is not None:
        access = await authenticator.authorize_actor(project_ref, signed_in, action, surface)
    else:
        access = await authenticator.authorize(project_ref, credential, action, surface)
    structlog.contextvars.bind_contextvars(
        project_id=access.project.id, actor=access.actor.name, actor_kind=access.actor.kind)
    return access


async def authorize_group(request: web.Request, group_ref: str, *,
                          include_subgroups: bool) -> GroupAccess:
    authenticator, credential = _credential(request)
    access = await authenticator.authorize_group(group_ref, credential,
                                                 include_subgroups=include_subgroups)
    structlog.contextvars.bind_contextvars(
        group_id=access.group.id, actor=access.actor.name, actor_kind=access.actor.kind)
    return access


async def defer_continue(request: web.Request) -> web.StreamResponse | None:
    """Expect handler for uploads: `100 Continue` is sent by `body_chunks`, when the
    body is really about to be read, after validation, authorisation, size and
    policy checks; a refused upload is answered before the client sends its body."""
    expect = request.headers.get("Expect", "")
    if request.version != HttpVersion11:
        return None
    if expect.lower() == "100-continue":
        request[CONTINUE_DEFERRED] = True
        return None
    return _expectation_failed()


async def refuse_unknown_expect(request: web.Request) -> web.StreamResponse | None:
    """Expect handler for reads: aiohttp's own answers an unknown expectation in
    plain text; ours in JSON. `100-continue` needs nothing: there is no body."""
    if request.version != HttpVersion11 or request.headers.get("Expect", "").lower() == "100-continue":
        return None
    return _expectation_failed()


def _expectation_failed() -> web.Response:
    return web.json_response({"error": "417 Expectation Failed"}, status=417)


async def body_chunks(request: web.Request) -> AsyncIterator[bytes]:
    """The raw request body, chunk by chunk; a vanished client becomes our error."""
    if request.get(CONTINUE_DEFERRED):
        request[CONTINUE_DEFERRED] = False
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp's own handler does: no body sent yet
    try:
        # What has arrived, as it arrived (joined only when several pieces wait):
        # the upload copies it into its part buffers anyway. Not iter_chunks():
        # on an empty body that may answer (b"", True) forever.
        async for chunk in request.content.iter_any():
            yield chunk
    except (HttpProcessingError, ConnectionError, asyncio.IncompleteReadError) as exc:
        raise UploadInterrupted() from exc


def expected_digests(request: web.Request) -> ExpectedDigests | None:
    sha256 = request.headers.get("X-Checksum-SHA256")
    md5 = request.headers.get("Content-MD5")
    if sha256 is None and md5 is None:
        return None
    if sha256 is not None and not _SHA256_RE.match(sha256.strip()):
        raise InvalidField("X-Checksum-SHA256")
    if md5 is not None:
        try:
            if len(base64.b64decode(md5.strip(), validate=True)) != 16:
                raise ValueError(md5)
        except (binascii.Error, ValueError):
            raise InvalidField("Content-MD5") from None
    return ExpectedDigests(sha256=sha256.strip() if sha256 else None,
                           md5_base64=md5.strip() if md5 else None)


@dataclass(frozen=True)
class ByteRange:
    start: int
    length: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.start + self.length - 1}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One `bytes=` range, or None to send everything (RFC 9110 lets us ignore
    ranges we do not serve, such as several at once)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    match = _RANGE_SPEC_RE.match(spec.strip())
    if unit.strip().lower() != "bytes" or match is None:
        return None
    first, last = match.groups()
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        suffix = min(suffix, size)
        return ByteRange(size - suffix, suffix)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = min(end, size - 1)
    return ByteRange(start, end - start + 1)


def etag_matches(header: str | None, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


async def request_params(request: web.Request) -> dict[str, Any]:
    """Query, then a JSON or form body on top, as Grape merges them."""
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise BadRequest("the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            params.update(body)
        else:
            params.update(await request.post())
    return params
