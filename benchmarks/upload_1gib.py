"""A large upload through the gateway's S3 backend, against uploading straight to S3.

Real services: SeaweedFS (`weed mini`, 127.0.0.1 only), an embedded PostgreSQL and
`gateway serve` as its own process. Measures the gateway process's peak RSS while
it streams the file, and throughput as a ratio to a direct aiobotocore multipart
upload of the same bytes with the same part size and concurrency, in the same run.

    python benchmarks/upload_1gib.py [--size-mib 1024]

Prints a table and writes benchmarks/results/upload_1gib.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiobotocore.session import get_session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.services import (  # noqa: E402
    ACCESS_KEY, SECRET_KEY, developer_token, gateway_process, postgres, seaweedfs, workdir,
)
from gateway.embedded import ensure_database  # noqa: E402
from gateway.settings import MiB, Settings  # noqa: E402
from tests.rss import RssSampler  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "upload_1gib.json"
BLOCK = os.urandom(1 * MiB)


async def body(size: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < size:
        piece = BLOCK[: min(len(BLOCK), size - sent)]
        sent += len(piece)
        yield piece


async def timed(coro) -> float:  # noqa: ANN001
    started = time.perf_counter()
    await coro
    return time.perf_counter() - started


async def gateway_put(http: aiohttp.ClientSession, url: str, token: str, size: int,
                      declared: bool) -> None:
    headers = {"PRIVATE-TOKEN": token, "Content-Type": "application/octet-stream"}
    if declared:
        headers["Content-Length"] = str(size)
    async with http.put(url, data=body(size), headers=headers) as response:
        if response.status != 201:
            raise RuntimeError(f"upload failed: {response.status} {await response.text()}")


async def probe_latency(http: aiohttp.ClientSession, until: asyncio.Event) -> list[float]:
    """How long a trivial request (an unknown route: no database, no storage) waits
    while the big upload streams: a blocked event loop would show here."""
    latencies = []
    while not until.is_set():
        started = time.perf_counter()
        async with http.get("/api/v4/latency-probe") as response:
            await response.read()
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return latencies


async def put_with_probe(http: aiohttp.ClientSession, url: str, token: str,
                         size: int) -> tuple[float, list[float]]:
    done = asyncio.Event()
    probe = asyncio.ensure_future(probe_latency(http, done))
    try:
        elapsed = await timed(gateway_put(http, url, token, size, True))
    finally:
        done.set()
    return elapsed, await probe


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def gateway_get(http: aiohttp.ClientSession, url: str, token: str, size: int) -> None:
    received = 0
    async with http.get(url, headers={"PRIVATE-TOKEN": token}) as response:
        async for chunk in response.content.iter_chunked(1 * MiB):
            received += len(chunk)
    if received != size:
        raise RuntimeError(f"downloaded {received} of {size} bytes")


async def direct_put(client, bucket: str, key: str, size: int, part_size: int,  # noqa: ANN001
                     concurrency: int) -> None:
    """The baseline: the same multipart upload straight to S3, no gateway."""
    upload = await client.create_multipart_upload(Bucket=bucket, Key=key)
    semaphore = asyncio.Semaphore(concurrency)
    etags: dict[int, str] = {}

    async def put_part(number: int, data: bytes) -> None:
        try:
            response = await client.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"],
                                                PartNumber=number, Body=data)
            etags[number] = response["ETag"]
        finally:
            semaphore.release()

    tasks, buffer, number = [], bytearray(), 1
    async for chunk in body(size):
        buffer += chunk
        if len(buffer) >= part_size:
            await semaphore.acquire()
            tasks.append(asyncio.ensure_future(put_part(number, bytes(buffer[:part_size]))))
            del buffer[:part_size]
            number += 1
    if buffer:
        await semaphore.acquire()
        tasks.append(asyncio.ensure_future(put_part(number, bytes(buffer))))
    await asyncio.gather(*tasks)
    await client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]})


async def direct_get(client, bucket: str, key: str) -> None:  # noqa: ANN001
    response = await client.get_object(Bucket=bucket, Key=key)
    async with response["Body"] as stream:
        async for _ in stream.iter_chunks(1 * MiB):
            pass


async def run(size: int) -> dict:
    defaults = Settings()
    with workdir() as wd, seaweedfs(wd) as s3, postgres(wd) as pg:
        await ensure_database(pg)
        s3.client().create_bucket(Bucket="bench")
        env = {
            "GATEWAY_DATABASE_URL": pg.dsn, "GATEWAY_S3_BUCKET": "bench",
            "GATEWAY_S3_ENDPOINT_URL": s3.endpoint, "GATEWAY_S3_REGION": "us-east-1",
            "GATEWAY_S3_ACCESS_KEY_ID": ACCESS_KEY, "GATEWAY_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        token = await developer_token(env, wd)
        url = "/api/v4/projects/bench%2Fapp/packages/generic/bench/1.0.0/"
        timeout = aiohttp.ClientTimeout(total=None)
        with gateway_process(env, wd) as gw:
            async with aiohttp.ClientSession(gw.base_url, timeout=timeout) as http:
                with RssSampler(gw.process.pid) as rss:
                    idle_rss = rss.current()
                    put_declared, latencies = await put_with_probe(http, url + "declared.bin",
                                                                   token, size)
                    put_chunked = await timed(gateway_put(http, url + "chunked.bin", token, size, False))
                    get = await timed(gateway_get(http, url + "declared.bin", token, size))
                peak_rss = rss.peak
        session = get_session()
        async with session.create_client(
            "s3", endpoint_url=s3.endpoint, region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        ) as client:
            direct_put_s = await timed(direct_put(client, "bench", "direct.bin", size,
                                                  defaults.part_size, defaults.part_concurrency))
            direct_get_s = await timed(direct_get(client, "bench", "direct.bin"))
    mib = size / MiB
    return {
        "size_bytes": size,
        "part_size": defaults.part_size,
        "part_concurrency": defaults.part_concurrency,
        "gateway_idle_rss_mb": round(idle_rss / 1e6, 1),
        "gateway_peak_rss_mb": round(peak_rss / 1e6, 1),
        "upload_content_length_mib_s": round(mib / put_declared, 1),
        "upload_chunked_mib_s": round(mib / put_chunked, 1),
        "download_mib_s": round(mib / get, 1),
        "direct_upload_mib_s": round(mib / direct_put_s, 1),
        "direct_download_mib_s": round(mib / direct_get_s, 1),
        "upload_ratio_vs_direct": round(direct_put_s / put_declared, 2),
        "probe_requests_during_upload": len(latencies),
        "probe_latency_ms_p50": round(percentile(latencies, 0.5) * 1000, 1),
        "probe_latency_ms_p99": round(percentile(latencies, 0.99) * 1000, 1),
        "probe_latency_ms_max": round(max(latencies) * 1000, 1),
        "download_ratio_vs_direct": round(direct_get_s / get, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    result = asyncio.run(run(args.size_mib * MiB))
    rows = [
        ("file size", f"{args.size_mib} MiB"),
        ("part size x concurrency", f"{result['part_size'] // MiB} MiB x {result['part_concurrency']}"),
        ("gateway RSS idle / peak", f"{result['gateway_idle_rss_mb']} / {result['gateway_peak_rss_mb']} MB"),
        ("upload via gateway (Content-Length)", f"{result['upload_content_length_mib_s']} MiB/s"),
        ("upload via gateway (chunked)", f"{result['upload_chunked_mib_s']} MiB/s"),
        ("upload direct to S3", f"{result['direct_upload_mib_s']} MiB/s"),
        ("upload gateway / direct", f"{result['upload_ratio_vs_direct']}"),
        ("other requests during the upload, p50 / p99 / max",
         f"{result['probe_latency_ms_p50']} / {result['probe_latency_ms_p99']} / "
         f"{result['probe_latency_ms_max']} ms ({result['probe_requests_during_upload']} requests)"),
        ("download via gateway", f"{result['download_mib_s']} MiB/s"),
        ("download direct from S3", f"{result['direct_download_mib_s']} MiB/s"),
        ("download gateway / direct", f"{result['download_ratio_vs_direct']}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
