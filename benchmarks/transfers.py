"""The client side of every scenario: HTTP to the gateway (or a plain server), and
aiobotocore straight to S3 with the default client and a tuned one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from benchmarks.measure import MiB, Measurement
from benchmarks.services import S3Endpoint

READ_CHUNK = 1 * MiB
# Both direct clients may open as many connections as the widest scenario sends at
# once (botocore's default of 10 would throttle the baseline, not measure S3).
MAX_CONNECTIONS = 64


class TransferFailed(RuntimeError):
    pass


async def file_chunks(path: Path, chunk_size: int = READ_CHUNK) -> AsyncIterator[bytes]:
    """The file in 1 MiB pieces; reads from the page cache, so inline is cheaper than a thread."""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def gateway_file_url(project: str, package: str, version: str, file_name: str) -> str:
    return (f"/api/v4/projects/{project.replace('/', '%2F')}/packages/generic/"
            f"{package}/{version}/{file_name}")


async def gateway_put(http: aiohttp.ClientSession, url: str, token: str, body: bytes | Path,
                      *, declared: bool = True) -> int:
    """One upload; `declared` sends Content-Length, else the body goes chunked."""
    headers = {"PRIVATE-TOKEN": token, "Content-Type": "application/octet-stream"}
    if isinstance(body, Path):
        size = body.stat().st_size
        data: Any = file_chunks(body)
        if declared:
            headers["Content-Length"] = str(size)
    else:
        size = len(body)
        data = body if declared else _one_chunk(body)
    async with http.put(url, data=data, headers=headers) as response:
        if response.status not in (200, 201):
            raise TransferFailed(f"PUT {url}: {response.status} {await response.text()}")
    return size


async def _one_chunk(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def http_get(http: aiohttp.ClientSession, url: str | Any, *, headers: dict[str, str] | None = None,
                   expected: int | None = None) -> int:
    """Downloads and discards a body (following redirects); returns its length."""
    received = 0
    async with http.get(url, headers=headers) as response:
        if response.status != 200:
            raise TransferFailed(f"GET {url}: {response.status} {(await response.read())[:200]!r}")
        async for chunk in response.content.iter_chunked(READ_CHUNK):
            received += len(chunk)
    if expected is not None and received != expected:
        raise TransferFailed(f"GET {url}: {received} of {expected} bytes")
    return received


async def timed_latencies(call: Callable[[], Awaitable[Any]], count: int) -> Measurement:
    """`count` calls one after another; each call's latency in milliseconds."""
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        begun = time.perf_counter()
        await call()
        latencies.append((time.perf_counter() - begun) * 1000)
    return Measurement(seconds=time.perf_counter() - started, operations=count,
                       latencies_ms=latencies)


async def bounded(calls: Iterable[Callable[[], Awaitable[int]]], concurrency: int) -> int:
    """Runs the calls, at most `concurrency` at once; the sum of what they return."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[int]]) -> int:
        async with semaphore:
            return await call()

    return sum(await asyncio.gather(*(one(call) for call in calls)))


async def open_s3_clients(stack: AsyncExitStack, s3: S3Endpoint) -> dict[str, Any]:
    """`default`: aiobotocore as it comes (signed payload, flexible checksums);
    `tuned`: unsigned payload and only the checksums S3 requires."""
    session = get_session()
    common = {"endpoint_url": s3.url, "region_name": s3.region,
              "aws_access_key_id": s3.access_key, "aws_secret_access_key": s3.secret_key}
    configs = {
        "default": AioConfig(max_pool_connections=MAX_CONNECTIONS, s3={"addressing_style": "path"}),
        "tuned": AioConfig(
            max_pool_connections=MAX_CONNECTIONS,
            # An explicit `payload_signing_enabled` wins over botocore's "always sign
            # over plain http" rule: the body is sent as UNSIGNED-PAYLOAD.
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    }
    return {name: await stack.enter_async_context(session.create_client("s3", config=config, **common))
            for name, config in configs.items()}


async def multipart_put(client: Any, bucket: str, key: str, path: Path, part_size: int,
                        concurrency: int) -> int:
    """The direct large-upload baseline: the file's parts, `concurrency` in flight."""
    upload = await client.create_multipart_upload(Bucket=bucket, Key=key)
    upload_id = upload["UploadId"]
    try:
        semaphore = asyncio.Semaphore(concurrency)
        etags: dict[int, str] = {}

        async def put_part(number: int, data: bytes) -> None:
            try:
                response = await client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id,
                                                    PartNumber=number, Body=data)
                etags[number] = response["ETag"]
            finally:
                semaphore.release()

        tasks, size = [], 0
        with path.open("rb") as handle:
            number = 1
            while data := handle.read(part_size):
                size += len(data)
                await semaphore.acquire()
                tasks.append(asyncio.ensure_future(put_part(number, data)))
                number += 1
        await asyncio.gather(*tasks)
        await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]})
    except BaseException:
        await asyncio.shield(client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id))
        raise
    return size


async def get_object(client: Any, bucket: str, key: str) -> int:
    received = 0
    response = await client.get_object(Bucket=bucket, Key=key)
    async with response["Body"] as stream:
        async for chunk in stream.iter_chunks(READ_CHUNK):
            received += len(chunk)
    return received


async def put_object(client: Any, bucket: str, key: str, body: bytes) -> int:
    await client.put_object(Bucket=bucket, Key=key, Body=body)
    return len(body)


async def list_keys(client: Any, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    paginator = client.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


async def delete_keys(client: Any, bucket: str, keys: Sequence[str]) -> None:
    ordered = sorted(keys)
    for start in range(0, len(ordered), 1000):
        batch = [{"Key": key} for key in ordered[start:start + 1000]]
        await client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


async def abort_uploads(client: Any, bucket: str, prefix: str) -> None:
    """Multipart uploads someone left open under the prefix (a run cut short)."""
    response = await client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    for upload in response.get("Uploads", []):
        try:
            await client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                                UploadId=upload["UploadId"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
