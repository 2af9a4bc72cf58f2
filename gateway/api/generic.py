"""Generic packages: `PUT`/`GET`/`HEAD /projects/:id/packages/generic/:name/:version/(path/):file`."""

from __future__ import annotations

import asyncio
from typing import BinaryIO
from urllib.parse import quote

import structlog
from aiohttp import web

from gateway.api.http import (
    authorize, body_chunks, etag_matches, expected_digests, parse_range, raw_id_segment,
)
from gateway.api.sendfile import send_local_range
from gateway.api.serializers import package_file_full
from gateway.auth import Action
from gateway.events import Origin
from gateway.db.session import shared_connection
from gateway.keys import CATALOG, DB_POOL, REGISTRY
from gateway.logs import get_logger
from gateway.metrics import DOWNLOADS_IN_FLIGHT, track
from gateway.models import PackageFile
from gateway.validation import (
    GenericTarget, generic_file_path, parse_generic_tail, parse_select, parse_status,
)

log = get_logger(__name__)

# `(?s:...)`: a newline (`%0A`) in a name must reach validation (400), not miss the route.
ROUTE = "/api/v4/projects/{id}/packages/generic/{tail:(?s:.+)}"
# What RFC 8187 lets stand unencoded in `filename*` (besides letters and digits).
RFC8187_ATTR_CHARS = "!#$&+-.^_`|~"
# Raw path: ['', 'api', 'v4', 'projects', ID, 'packages', 'generic', name, version, ..., file]
_TAIL_START = 7


def generic_target(request: web.Request) -> GenericTarget:
    """Parse from the raw path, so encoded slashes and dots are seen as sent."""
    return parse_generic_tail(raw_id_segment(request),
                              request.rel_url.raw_path.split("/")[_TAIL_START:])


def download_path(target: GenericTarget, project_id: int) -> str:
    return generic_file_path(project_id, target.package_name, target.package_version,
                             target.file_name)


async def put_package_file(request: web.Request) -> web.Response:
    target = generic_target(request)
    status = parse_status(request.query.get("status"))
    select = parse_select(request.query.get("select"))
    expected = expected_digests(request)
    # One connection for the checks before the body and for the commit after it
    # (publish gives it back while the body streams in).
    async with shared_connection(request.app[DB_POOL]):
        access = await authorize(request, target.project_ref, Action.WRITE)
        published = await request.app[REGISTRY].publish(
            access, target, body_chunks(request),
            declared_length=request.content_length, status=status, expected=expected,
            client_address=request.remote,
        )
    structlog.contextvars.bind_contextvars(
        bytes_in=published.stored.size, parts=published.stored.parts,
        package_id=published.file.package_id, package_file_id=published.file.id,
    )
    if select == "package_file":
        return web.json_response(package_file_full(published.file,
                                                   download_path(target, access.project.id)))
    return web.json_response({"message": "201 Created"}, status=201)


async def get_package_file(request: web.Request) -> web.StreamResponse:
    target = generic_target(request)
    access = await authorize(request, target.project_ref, Action.READ)
    registry = request.app[REGISTRY]
    record = await registry.find_download(access, target)
    structlog.contextvars.bind_contextvars(package_id=record.package_id, package_file_id=record.id)
    return await send_file(request, record, target.download_name)


async def delete_package_files(request: web.Request) -> web.Response:
    """Every live file of that name in the package; 404 when there is none."""
    target = generic_target(request)
    access = await authorize(request, target.project_ref, Action.DELETE)
    await request.app[CATALOG].delete_generic_files(
        access, target.package_name, target.package_version, target.file_name,
        origin=Origin.of(access.actor, request.remote))
    return web.Response(status=204)


async def send_file(request: web.Request, record: PackageFile, download_name: str) -> web.StreamResponse:
    etag = f'"{record.file_sha256}"'
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": (f"attachment; filename=\"{download_name}\"; "
                                f"filename*=UTF-8''{quote(download_name, safe=RFC8187_ATTR_CHARS)}"),
        "X-Checksum-SHA256": record.file_sha256,
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-cache",
    }
    if etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers={k: headers[k] for k in ("ETag", "Cache-Control")})
    registry = request.app[REGISTRY]
    if request.method == "GET" and registry.settings.download_mode == "redirect":
        url = await registry.download_url(record, headers["Content-Disposition"])
        if url is not None:
            await registry.mark_downloaded(record)
            structlog.contextvars.bind_contextvars(bytes_out=0, redirected=True)
            return web.Response(status=302, headers={
                "Location": url,
                **{k: headers[k] for k in ("X-Checksum-SHA256", "ETag", "Cache-Control")}})
    byte_range = None
    if_range = request.headers.get("If-Range")
    if if_range is None or if_range.strip() == etag:
        byte_range = parse_range(request.headers.get("Range"), record.size)
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    offset, length = (byte_range.start, byte_range.length) if byte_range else (0, record.size)
    if byte_range:
        response.headers["Content-Range"] = byte_range.content_range(record.size)
    response.content_length = length
    if request.method == "GET":
        await registry.mark_downloaded(record)
    if request.method == "HEAD" or length == 0:
        structlog.contextvars.bind_contextvars(bytes_out=0)
        await response.prepare(request)
        await response.write_eof()
        return response
    # Open before sending headers, so a missing object is still a clean error answer.
    local = await registry.open_local_file(record)
    if local is not None:
        return await _send_local(request, response, record, local, offset, length)
    sent = 0
    async with registry.open_file(record, offset, length) as chunks, \
            track(DOWNLOADS_IN_FLIGHT):
        await response.prepare(request)
        try:
            async for chunk in chunks:
                await response.write(chunk)
                sent += len(chunk)
        except ConnectionError:
            # The client went away mid-download: nothing to answer, nothing to undo.
            structlog.contextvars.bind_contextvars(client_closed=True)
            return response
        except Exception as exc:
            _interrupted(request, exc, record)
            return response
        finally:
            structlog.contextvars.bind_contextvars(bytes_out=sent)
    await response.write_eof()
    return response


async def _send_local(request: web.Request, response: web.StreamResponse, record: PackageFile,
                      handle: BinaryIO, offset: int, length: int) -> web.StreamResponse:
    """A file of the local store, sent by the kernel."""
    sent = 0
    try:
        with track(DOWNLOADS_IN_FLIGHT):
            await send_local_range(request, response, handle, offset, length)
        sent = length
    except ConnectionError:
        structlog.contextvars.bind_contextvars(client_closed=True)
    except Exception as exc:
        _interrupted(request, exc, record)
    finally:
        structlog.contextvars.bind_contextvars(bytes_out=sent)
        await asyncio.shield(asyncio.to_thread(handle.close))
    return response


def _interrupted(request: web.Request, exc: Exception, record: PackageFile) -> None:
    """Headers are gone, so no error answer is possible: cut the connection, and
    the client sees a short body rather than a complete-looking file."""
    log.error("download_interrupted", error=str(exc), error_type=type(exc).__name__,
              key=record.object_key)
    if request.transport is not None:
        request.transport.close()
