"""A body that fits in one part goes up in one request with the Content-MD5 S3
checks; larger bodies go in parts that are not SigV4-hashed but carry the
checksum `GATEWAY_S3_PART_CHECKSUM` names (CRC32 by default) for S3 to check."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import os
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gateway.settings import MiB
from tests.harness import Gateway, GatewayFactory

PART = 5 * MiB  # the test settings' part size


class S3Calls:
    """Every S3 operation the gateway's client makes, with the headers it sends."""

    def __init__(self, gateway: Gateway) -> None:
        self.operations: list[str] = []
        self.sent: list[tuple[str, dict[str, str]]] = []
        events = gateway.registry.store._client.meta.events  # type: ignore[attr-defined]
        events.register("before-call.s3", self._before_call)
        events.register("before-send.s3", self._before_send)

    def _before_call(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def _before_send(self, request: Any, **_: Any) -> None:
        self.sent.append((request.method, dict(request.headers)))

    def body_requests(self) -> list[dict[str, str]]:
        return [headers for method, headers in self.sent if method == "PUT"]


async def chunked(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]
        await asyncio.sleep(0)


def header(headers: dict[str, str], name: str) -> str | None:
    values = {k.lower(): v for k, v in headers.items()}
    value = values.get(name.lower())
    return value.decode() if isinstance(value, bytes) else value


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def crc32_base64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


async def test_a_small_file_is_one_put_object_with_its_md5(
        gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("s3")
    dev = await gateway.developer()
    calls = S3Calls(gateway)
    data = os.urandom(4096)

    response = await gateway.put(dev, data)

    assert response.status == 201
    assert calls.operations == ["PutObject"]
    [sent] = calls.body_requests()
    assert header(sent, "Content-MD5") == md5_base64(data)
    assert header(sent, "X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"
    assert await (await gateway.get(dev)).read() == data
    assert await gateway.count("upload_intents") == 0
    assert gateway.multipart_uploads() == []


@pytest.mark.parametrize(("size", "is_chunked", "operations"), [
    (PART, False, ["PutObject"]),
    (PART + 1, False, ["CreateMultipartUpload", "UploadPart", "UploadPart",
                       "CompleteMultipartUpload"]),
    (4096, True, ["PutObject"]),
    (PART, True, ["PutObject"]),
    (PART + 1, True, ["CreateMultipartUpload", "UploadPart", "UploadPart",
                      "CompleteMultipartUpload"]),
], ids=["one-part", "one-part-plus-one", "chunked-small", "chunked-one-part",
        "chunked-one-part-plus-one"])
async def test_bodies_around_one_part_round_trip(
        gateway_factory: GatewayFactory, storage: str, size: int, is_chunked: bool,
        operations: list[str]) -> None:
    gateway = await gateway_factory(storage)
    dev = await gateway.developer()
    calls = S3Calls(gateway) if storage == "s3" else None
    data = os.urandom(size)

    response = await gateway.put(dev, chunked(data) if is_chunked else data,
                                 params={"select": "package_file"})

    assert response.status == 200
    assert (await response.json())["file_sha256"] == hashlib.sha256(data).hexdigest()
    if calls is not None:
        assert sorted(calls.operations) == sorted(operations)
        whole = operations == ["PutObject"]
        for sent in calls.body_requests():
            assert header(sent, "X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"
            if whole:
                assert header(sent, "Content-MD5") == md5_base64(data)
            else:
                assert header(sent, "Content-MD5") is None
                assert header(sent, "x-amz-checksum-crc32") is not None
    assert await (await gateway.get(dev)).read() == data
    assert await gateway.count("upload_intents") == 0
    assert gateway.multipart_uploads() == []


async def test_parts_carry_their_crc32_by_default(gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("s3")
    dev = await gateway.developer()
    calls = S3Calls(gateway)
    data = os.urandom(PART + 4096)

    assert (await gateway.put(dev, data)).status == 201

    create = next(headers for method, headers in calls.sent if method == "POST")
    assert header(create, "x-amz-checksum-algorithm") == "CRC32"
    parts = calls.body_requests()
    # Parts go up concurrently: in either order.
    assert sorted(header(sent, "x-amz-checksum-crc32") for sent in parts) == sorted([
        crc32_base64(data[:PART]), crc32_base64(data[PART:])])
    assert all(header(sent, "Content-MD5") is None for sent in parts)
    assert await (await gateway.get(dev)).read() == data
    assert gateway.multipart_uploads() == []


@pytest.mark.parametrize("checksum", ["md5", "none"])
async def test_other_part_checksums(gateway_factory: GatewayFactory, settings_factory: Any,
                                    checksum: str) -> None:
    """`md5`: each part's Content-MD5 instead of a CRC32; `none`: neither."""
    s3 = settings_factory("s3").s3
    gateway = await gateway_factory("s3", s3=dataclasses.replace(s3, part_checksum=checksum))
    dev = await gateway.developer()
    calls = S3Calls(gateway)
    data = os.urandom(PART + 4096)

    assert (await gateway.put(dev, data)).status == 201

    parts = calls.body_requests()
    expected_md5 = [md5_base64(data[:PART]), md5_base64(data[PART:])]
    sent_md5 = [header(sent, "Content-MD5") for sent in parts]  # parts go up in either order
    if checksum == "md5":
        assert sorted(sent_md5) == sorted(expected_md5)  # type: ignore[type-var]
    else:
        assert sent_md5 == [None, None]
    assert all(header(sent, "x-amz-checksum-crc32") is None for sent in parts)
    assert all(header(sent, "X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD" for sent in parts)
    assert await (await gateway.get(dev)).read() == data


@pytest.mark.parametrize("is_chunked", [False, True], ids=["length", "chunked"])
async def test_a_rejected_small_file_leaves_nothing(gateway: Gateway, storage: str,
                                                    is_chunked: bool) -> None:
    dev = await gateway.developer()
    calls = S3Calls(gateway) if storage == "s3" else None
    data = os.urandom(4096)

    response = await gateway.put(dev, chunked(data) if is_chunked else data,
                                 headers={"X-Checksum-SHA256": "0" * 64})

    assert response.status == 400
    if calls is not None:
        assert calls.operations == []  # refused before anything was sent
    await gateway.assert_nothing_stored()


async def test_s3_refusing_a_small_file_leaves_nothing(
        gateway_factory: GatewayFactory) -> None:
    gateway = await gateway_factory("s3")
    dev = await gateway.developer()
    events = gateway.registry.store._client.meta.events  # type: ignore[attr-defined]

    def refuse(**_: Any) -> None:
        # S3's answer to a body that does not match its Content-MD5 (moto does
        # not check the digest itself, so its refusal is played here).
        raise ClientError({"Error": {"Code": "BadDigest", "Message": "Content-MD5 mismatch"},
                           "ResponseMetadata": {"HTTPStatusCode": 400}}, "PutObject")

    events.register_first("before-sign.s3.PutObject", refuse)

    response = await gateway.put(dev, os.urandom(4096))

    assert response.status == 503
    await gateway.assert_nothing_stored()
