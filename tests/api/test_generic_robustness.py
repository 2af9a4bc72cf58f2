"""Edges found in review: broken downloads, odd input, Expect: 100-continue,
the directory form's URL, RFC 8187 names, and cancellation during the insert."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import time
from collections.abc import Callable

import pytest

from gateway.settings import MiB, Settings
from gateway.storage import fs as fs_store
from tests.harness import (
    FaultProxy, Gateway, GatewayFactory, Identity, parse_response, raw_request, wait_for,
)


async def download_until_closed(gateway: Gateway, dev: Identity,
                                timeout: float = 10) -> tuple[bytes, bool]:
    """A keep-alive GET of pkg/1.0.0/file.bin: everything the server sends, and
    whether it closed the connection in time (a client would hang otherwise)."""
    host, port = gateway.client.server.host, gateway.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    path = gateway.package_path(dev.project_id, "pkg", "1.0.0", "file.bin")
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {dev.token}\r\n\r\n".encode())
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            except TimeoutError:
                return data, False
            if not chunk:
                return data, True
            data += chunk
        return data, False
    finally:
        writer.close()


def assert_cut_short(data: bytes, closed: bool, *, size: int) -> None:
    """A 200 whose body stops short and whose connection closes: no second
    response spliced into the body, no client left waiting."""
    assert closed, "the client would hang waiting for the announced length"
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) < size
    assert b"HTTP/1.1 500" not in body


async def test_storage_failure_mid_download_cuts_the_connection(gateway_factory: GatewayFactory) -> None:
    """The object on disk is shorter than its row says: headers are out, so the
    connection is cut; no second response is written into the body."""
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    await gateway.put(dev, os.urandom(3 * MiB))
    async with gateway.pool.acquire() as conn:
        key = await conn.fetchval("SELECT object_key FROM package_files")
    path = gateway.registry.store.path_for(key)  # type: ignore[attr-defined]
    with path.open("r+b") as handle:
        handle.truncate(1 * MiB)

    data, closed = await download_until_closed(gateway, dev)

    assert_cut_short(data, closed, size=3 * MiB)


@pytest.mark.parametrize(("project", "status"), [
    ("%C2%B2", 404),                  # a Unicode digit is not an id
    ("99999999999999999999", 404),    # beyond bigint
    ("group%2Fa%00b", 400),           # a NUL byte
    ("group%2F%0Aproject", 400),
])
async def test_odd_project_references_are_not_500(gateway: Gateway, project: str, status: int) -> None:
    dev = await gateway.developer()
    response = await raw_request(gateway, "GET", f"/api/v4/projects/{project}/packages/generic/p/1/f",
                                 headers=dev.headers)
    assert response.status == status, response.body


async def test_unicode_digits_in_range_are_ignored(gateway: Gateway) -> None:
    dev = await gateway.developer()
    await gateway.put(dev, b"0123456789")
    response = await raw_request(gateway, "GET", gateway.package_path(dev.project_id, "pkg", "1.0.0",
                                                                      "file.bin"),
                                 headers={**dev.headers, "Range": "bytes=\u00b2-"})
    assert response.status == 200 and response.body == b"0123456789"


async def test_select_url_of_the_directory_form_downloads(gateway: Gateway) -> None:
    dev = await gateway.developer()
    path = gateway.package_path(dev.project_id, "pkg", "1.0.0", "dir/sub/tool.bin")
    response = await gateway.client.put(path, data=b"tool", headers=dev.headers,
                                        params={"select": "package_file"})
    url = (await response.json())["file"]["url"]
    assert url == path
    assert await (await gateway.client.get(url, headers=dev.headers)).read() == b"tool"


async def test_content_disposition_encodes_per_rfc_8187(gateway: Gateway) -> None:
    dev = await gateway.developer()
    await gateway.put(dev, b"x", file_name="myfile@1.1.tar.gz")
    response = await gateway.get(dev, file_name="myfile@1.1.tar.gz")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"myfile@1.1.tar.gz\"; filename*=UTF-8''myfile%401.1.tar.gz")


async def expect_continue(gateway: Gateway, headers: dict[str, str], length: int,
                          name: str = "e.bin") -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = gateway.client.server.host, gateway.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    path = gateway.package_path(headers.pop("project"), "pkg", "1.0.0", name)
    lines = [f"PUT {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {length}",
             "Expect: 100-continue", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    return first, reader, writer


async def test_expect_continue_refusals_come_before_the_body(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs", max_file_size=1 * MiB)
    dev = await gateway.developer()

    first, _, writer = await expect_continue(gateway, {"project": str(dev.project_id)}, 1000)
    writer.close()
    assert first.startswith(b"HTTP/1.1 401")

    first, _, writer = await expect_continue(
        gateway, {"project": str(dev.project_id), **dev.headers}, 10 * MiB)
    writer.close()
    assert first.startswith(b"HTTP/1.1 413")
    await gateway.assert_nothing_stored()


async def test_expect_continue_accepted_upload(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    first, reader, writer = await expect_continue(
        gateway, {"project": str(dev.project_id), **dev.headers, "Connection": "close"}, 5)
    assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    await writer.drain()
    response = parse_response(await asyncio.wait_for(reader.read(), 10))
    writer.close()
    assert response.status == 201
    assert await (await gateway.get(dev, file_name="e.bin")).read() == b"hello"


async def test_cancelled_while_recording_leaves_nothing(gateway: Gateway) -> None:
    """The client goes away while the row waits for a lock: the row is never written,
    so the object goes too."""
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"first", file_name="a.bin")).status == 201
    async with gateway.pool.acquire() as blocker:
        async with blocker.transaction():
            await blocker.execute("SELECT * FROM packages FOR UPDATE")  # the upsert will wait
            host, port = gateway.client.server.host, gateway.client.server.port
            reader, writer = await asyncio.open_connection(host, port)
            path = gateway.package_path(dev.project_id, "pkg", "1.0.0", "b.bin")
            writer.write((f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {dev.token}\r\n"
                          "Content-Length: 5\r\n\r\nhello").encode())
            await writer.drain()
            await wait_for(lambda: len(gateway.stored_objects()) == 2)  # stored, now recording
            await asyncio.sleep(0.2)
            writer.transport.abort()
            await gateway.wait_until_idle()
    assert await gateway.count("package_files") == 1
    assert len(gateway.stored_objects()) == 1
    assert gateway.multipart_uploads() == []


async def test_s3_connection_cut_mid_download_cuts_the_client_connection(
        gateway_factory: GatewayFactory, settings_factory: Callable[..., Settings],
        moto_endpoint: str) -> None:
    host, port = moto_endpoint.removeprefix("http://").split(":")
    proxy = FaultProxy(host, int(port))
    endpoint = await proxy.start()
    try:
        s3 = dataclasses.replace(settings_factory("s3").s3, endpoint_url=endpoint)
        gateway = await gateway_factory("s3", s3=s3)
        dev = await gateway.developer()
        assert (await gateway.put(dev, os.urandom(3 * MiB))).status == 201
        proxy.cut_after = 1 * MiB  # S3's answer to the next GET dies a third of the way

        data, closed = await download_until_closed(gateway, dev)
    finally:
        await proxy.stop()

    assert proxy.cuts >= 1
    assert_cut_short(data, closed, size=3 * MiB)


@pytest.mark.parametrize(("header", "value"), [
    ("Authorization", "Basic \u00e9"), ("Authorization", "Basic \u00e9t\u00e9=="),
    ("PRIVATE-TOKEN", "glpat-\u00e9"), ("JOB-TOKEN", "\u2603"), ("Deploy-Token", "\u00ff"),
    ("Authorization", "Bearer \u00e9"),
])
async def test_non_ascii_credentials_are_not_500(gateway_factory: GatewayFactory, header: str,
                                                 value: str) -> None:
    gateway = await gateway_factory("fs")
    private = await gateway.project()
    public = await gateway.project(public=True)
    maintainer = await gateway.user("maintainer", public)
    await gateway.put(maintainer, b"x", project=public["id"])
    encoded = {header: value.encode("utf-8").decode("latin-1")}  # sent as raw UTF-8 bytes
    lenient = header in {"Deploy-Token"} or value.startswith("Basic")
    private_get = await raw_request(gateway, "GET", gateway.package_path(private["id"], "pkg", "1.0.0",
                                                                         "file.bin"), headers=encoded)
    assert private_get.status == 401
    public_get = await raw_request(gateway, "GET", gateway.package_path(public["id"], "pkg", "1.0.0",
                                                                        "file.bin"), headers=encoded)
    assert public_get.status == (200 if lenient else 401)


async def test_far_if_unmodified_since_dates_are_ignored(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("fs")
    project = await gateway.project()
    maintainer = await gateway.user("maintainer", project)
    await gateway.put(maintainer, b"x")
    async with gateway.pool.acquire() as conn:
        package_id, file_id = await conn.fetchrow("SELECT package_id, id FROM package_files")
    url = f"/api/v4/projects/{project['id']}/packages/{package_id}"
    stale = {**maintainer.headers, "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    assert (await gateway.client.delete(f"{url}/package_files/{file_id}", headers=stale)).status == 412
    odd = {**maintainer.headers, "If-Unmodified-Since": "Fri, 31 Dec 9999 23:30:00 -0100"}
    assert (await gateway.client.delete(f"{url}/package_files/{file_id}", headers=odd)).status == 204


@pytest.mark.parametrize("size", [1000, 12 * MiB], ids=["one-part", "multipart"])
async def test_a_full_disk_is_507_and_leaves_nothing(gateway_factory: GatewayFactory,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     size: int) -> None:
    """ENOSPC while writing (the one-part file's fsync; a later part's fdatasync)."""
    gateway = await gateway_factory("fs")
    developer = await gateway.user("developer", await gateway.project())

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    monkeypatch.setattr(os, "fdatasync", disk_full)
    response = await gateway.put(developer, os.urandom(size))
    assert response.status == 507
    assert await response.json() == {"message": "507 Insufficient Storage - object storage is full"}
    await gateway.assert_nothing_stored()


async def test_a_full_disk_at_the_start_of_a_multipart_upload_is_507(
        gateway_factory: GatewayFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No room (or no inode) for the temporary file a multipart upload starts with."""
    gateway = await gateway_factory("fs")
    developer = await gateway.user("developer", await gateway.project())

    def no_room(path: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fs_store, "_create_private", no_room)
    response = await gateway.put(developer, os.urandom(12 * MiB))
    assert response.status == 507
    await gateway.assert_nothing_stored()
