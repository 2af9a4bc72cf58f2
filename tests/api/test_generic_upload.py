"""Uploading generic package files, on both backends (filesystem and S3 via moto)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from gateway.settings import MiB
from tests.harness import Gateway, GatewayFactory, held_upload, parse_response, wait_for


def digests(data: bytes) -> dict[str, str]:
    return {
        "file_md5": hashlib.md5(data).hexdigest(),
        "file_sha1": hashlib.sha1(data).hexdigest(),
        "file_sha256": hashlib.sha256(data).hexdigest(),
    }


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """An async body: aiohttp sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
        await asyncio.sleep(0)


@pytest.mark.parametrize("size", [0, 1, 12 * MiB + 1], ids=["empty", "one-byte", "three-parts"])
async def test_round_trip_is_byte_for_byte_with_all_digests(gateway: Gateway, size: int) -> None:
    dev = await gateway.developer()
    data = os.urandom(size)

    response = await gateway.put(dev, data, params={"select": "package_file"})
    assert response.status == 200
    record = await response.json()
    assert {k: record[k] for k in ("file_md5", "file_sha1", "file_sha256")} == digests(data)
    assert record["size"] == size
    assert record["file_name"] == "file.bin"

    download = await gateway.get(dev)
    assert download.status == 200
    assert await download.read() == data
    assert download.headers["X-Checksum-SHA256"] == hashlib.sha256(data).hexdigest()
    assert await gateway.count("packages") == 1
    assert len(gateway.stored_objects()) == 1
    assert gateway.multipart_uploads() == []


async def test_plain_upload_answers_201_created(gateway: Gateway) -> None:
    dev = await gateway.developer()
    response = await gateway.put(dev, b"hello")
    assert response.status == 201
    assert await response.json() == {"message": "201 Created"}


async def test_chunked_body_without_content_length(gateway: Gateway) -> None:
    dev = await gateway.developer()
    data = os.urandom(11 * MiB + 12345)

    response = await gateway.put(dev, chunked(data), params={"select": "package_file"})
    assert response.status == 200
    record = await response.json()
    assert record["size"] == len(data)
    assert {k: record[k] for k in ("file_md5", "file_sha1", "file_sha256")} == digests(data)
    assert await (await gateway.get(dev)).read() == data


async def test_concurrent_first_uploads_make_exactly_one_package(gateway: Gateway) -> None:
    dev = await gateway.developer()
    files = {f"part-{i}.bin": os.urandom(1000 + i) for i in range(32)}

    responses = await asyncio.gather(*(
        gateway.put(dev, data, name="fresh", version="2.0.0", file_name=name)
        for name, data in files.items()
    ))

    assert [r.status for r in responses] == [201] * 32
    assert await gateway.count("packages") == 1
    assert await gateway.count("package_files") == 32
    for name, data in files.items():
        download = await gateway.get(dev, name="fresh", version="2.0.0", file_name=name)
        assert await download.read() == data


async def test_creation_is_serialized_in_postgres_across_gateways(gateway_factory: GatewayFactory) -> None:
    """Two gateways (two pools, as two processes would have) on one database."""
    first = await gateway_factory("fs")
    second = await gateway_factory("fs")
    dev = await first.developer()

    responses = await asyncio.gather(*(
        (first if i % 2 else second).put(dev, os.urandom(100), name="shared", file_name=f"f{i}")
        for i in range(24)
    ))

    assert [r.status for r in responses] == [201] * 24
    assert await first.count("packages") == 1
    assert await second.count("package_files") == 24


async def test_newest_file_of_a_name_wins(gateway: Gateway) -> None:
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"old")).status == 201
    assert (await gateway.put(dev, b"new")).status == 201

    assert await (await gateway.get(dev)).read() == b"new"
    assert await gateway.count("package_files") == 2


async def test_hidden_status_and_explicit_status_changes(gateway: Gateway) -> None:
    dev = await gateway.developer()

    assert (await gateway.put(dev, b"a", params={"status": "hidden"})).status == 201
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM packages") == "hidden"
    # Hidden packages still download by exact path.
    assert await (await gateway.get(dev)).read() == b"a"

    # No status keeps the package's; an explicit one replaces it (as GitLab does).
    assert (await gateway.put(dev, b"b", file_name="other.bin")).status == 201
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM packages") == "hidden"
    assert (await gateway.put(dev, b"c", params={"status": "default"})).status == 201
    async with gateway.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM packages") == "default"
    assert await gateway.count("packages") == 1


async def test_directory_path_form(gateway: Gateway) -> None:
    dev = await gateway.developer()
    path = gateway.package_path(dev.project_id, "pkg", "1.0.0", "linux/amd64/tool")

    response = await gateway.client.put(path, data=b"binary", headers=dev.headers,
                                        params={"select": "package_file"})
    assert response.status == 200
    assert (await response.json())["file_name"] == "linux%2Famd64%2Ftool"

    download = await gateway.client.get(path, headers=dev.headers)
    assert await download.read() == b"binary"
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"tool\"; filename*=UTF-8''tool")


@pytest.mark.parametrize(("directory", "stored"), [
    ("my%20dir", "my%20dir%2Ftool"), ("caf%C3%A9", "caf%C3%A9%2Ftool"),
    ("~a", "%7Ea%2Ftool"), ("a:b", "a%3Ab%2Ftool"),
])
async def test_directory_names_take_any_printable_characters(
        gateway_factory: GatewayFactory, directory: str, stored: str) -> None:
    """GitLab's `path` has only its traversal check, no character rule."""
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    path = gateway.package_path(dev.project_id, "pkg", "1.0.0", f"{directory}/tool")
    response = await gateway.client.put(path, data=b"binary", headers=dev.headers,
                                        params={"select": "package_file"})
    assert response.status == 200, await response.text()
    assert (await response.json())["file_name"] == stored
    assert await (await gateway.client.get(path, headers=dev.headers)).read() == b"binary"


async def test_project_can_be_named_by_url_encoded_path(gateway: Gateway) -> None:
    dev = await gateway.developer()
    response = await gateway.put(dev, b"x", project=dev.project_path)
    assert response.status == 201
    assert await (await gateway.get(dev, project=dev.project_id)).read() == b"x"
    assert await (await gateway.get(dev, project=dev.project_path.upper())).read() == b"x"


@pytest.mark.parametrize("version", [
    "1.3.350-20201230123456", "1.2.3", "1.2.3g", "1.2", "1.2.bananas", "v1.2.4-build",
    "d50d836eb3de6177ce6c7a5482f27f9c2c84b672",
])
async def test_accepted_versions(gateway_factory: GatewayFactory, version: str) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"x", version=version)).status == 201


@pytest.mark.parametrize("file_name", ["my+file.tar.gz", "my~file.tar.gz", "myfile@1.1.tar.gz"])
async def test_accepted_file_names(gateway_factory: GatewayFactory, file_name: str) -> None:
    gateway = await gateway_factory("fs")
    dev = await gateway.developer()
    assert (await gateway.put(dev, b"x", file_name=file_name)).status == 201
    assert await (await gateway.get(dev, file_name=file_name)).read() == b"x"


async def test_checksum_headers_are_verified(gateway: Gateway) -> None:
    dev = await gateway.developer()
    data = os.urandom(6 * MiB)
    good = {"X-Checksum-SHA256": hashlib.sha256(data).hexdigest()}
    assert (await gateway.put(dev, data, headers=good)).status == 201

    bad_sha = {"X-Checksum-SHA256": hashlib.sha256(b"other").hexdigest()}
    response = await gateway.put(dev, data, headers=bad_sha, file_name="bad.bin")
    assert response.status == 400
    assert "X-Checksum-SHA256" in (await response.json())["message"]

    md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = await gateway.put(dev, data, headers={"Content-MD5": md5}, file_name="bad2.bin")
    assert response.status == 400
    assert await gateway.count("package_files") == 1
    assert len(gateway.stored_objects()) == 1
    assert gateway.multipart_uploads() == []


async def test_rejected_checksum_leaves_nothing(gateway: Gateway) -> None:
    dev = await gateway.developer()
    response = await gateway.put(dev, os.urandom(11 * MiB),
                                 headers={"X-Checksum-SHA256": "0" * 64})
    assert response.status == 400
    await gateway.assert_nothing_stored()


async def test_malformed_checksum_header_is_400(gateway: Gateway) -> None:
    dev = await gateway.developer()
    response = await gateway.put(dev, b"x", headers={"X-Checksum-SHA256": "not-hex"})
    assert response.status == 400
    assert await response.json() == {"error": "X-Checksum-SHA256 is invalid"}
    await gateway.assert_nothing_stored()


async def test_declared_size_over_the_limit_is_413_before_storing(gateway_factory: GatewayFactory,
                                                                    storage: str) -> None:
    gateway = await gateway_factory(storage, max_file_size=1 * MiB)
    dev = await gateway.developer()

    response = await gateway.put(dev, os.urandom(1 * MiB + 1))
    assert response.status == 413
    assert (await response.json())["message"].startswith("413 Payload Too Large")
    await gateway.assert_nothing_stored()


async def test_chunked_body_over_the_limit_is_413_as_soon_as_it_passes(gateway_factory: GatewayFactory,
                                                                    storage: str) -> None:
    """The body is never complete: the answer comes while the client still sends."""
    gateway = await gateway_factory(storage, max_file_size=6 * MiB)
    dev = await gateway.developer()
    host, port = gateway.client.server.host, gateway.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    path = gateway.package_path(dev.project_id, "pkg", "1.0.0", "big.bin")
    writer.write((f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {dev.token}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n").encode())
    chunk = os.urandom(256 * 1024)
    answer = asyncio.ensure_future(reader.read(4096))
    sent = 0
    try:
        while not answer.done() and sent < 64 * MiB:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
            sent += len(chunk)
        head = await asyncio.wait_for(answer, 10)
    except ConnectionError:
        head = await asyncio.wait_for(answer, 10)
    finally:
        writer.close()

    assert parse_response(head).status == 413
    assert sent < 32 * MiB  # answered long before the client stopped sending
    await gateway.wait_until_idle()
    await gateway.assert_nothing_stored()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_client_disconnect_mid_body_leaves_nothing(gateway: Gateway, framing: str) -> None:
    dev = await gateway.developer()
    host, port = gateway.client.server.host, gateway.client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    path = gateway.package_path(dev.project_id, "pkg", "1.0.0", "cut.bin")
    framing_header = ("Content-Length: 41943040" if framing == "content-length"
                      else "Transfer-Encoding: chunked")
    writer.write((f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nPRIVATE-TOKEN: {dev.token}\r\n"
                  f"{framing_header}\r\n\r\n").encode())
    chunk = os.urandom(1 * MiB)
    for _ in range(12):  # two full 5 MiB parts written, a third being filled
        writer.write(chunk if framing == "content-length"
                     else f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()
    # The upload really is under way in storage before the client vanishes.
    await wait_for(lambda: bool(gateway.stored_objects() or gateway.multipart_uploads()))
    writer.transport.abort()

    await gateway.wait_until_idle()
    await gateway.assert_nothing_stored()
    assert await gateway.count("packages") == 0


async def test_failed_database_write_removes_the_stored_object(gateway: Gateway) -> None:
    """The project disappears while its file streams in: the insert fails, the object goes."""
    dev = await gateway.developer()
    upload, release = await held_upload(gateway, dev, os.urandom(6 * MiB), b"tail")
    async with gateway.pool.acquire() as conn:
        await conn.execute("DELETE FROM projects WHERE id = $1", dev.project_id)
    release.set()

    response = await upload
    assert response.status == 404
    await gateway.assert_nothing_stored()
