"""Each scenario: what the gateway does, what it is compared with, and which ratios
the report shows. A builder sets up what the rounds need (untimed) and returns the
scenario, or one with only a note when the gateway lacks the feature yet."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yarl

from benchmarks.measure import MiB, Measurement
from benchmarks.suite import (
    LISTING_PROJECT, MAX_MS, MEDIAN_MS, P50_MS, P99_MS, PEAK_RSS_MB, PROJECT, RATE, THROUGHPUT,
    Context, Scenario, Subject, human_size, versus,
)
from benchmarks.transfers import (
    bounded, gateway_file_url, gateway_put, get_object, http_get, multipart_put, put_object,
    timed_latencies,
)

SQL = Path(__file__).with_name("listing.sql")
LIVENESS_PATHS = ("/-/liveness", "/-/health")
PROBE_INTERVAL = 0.02


async def timed(work: Awaitable[int], *, operations: int = 0) -> Measurement:
    started = time.perf_counter()
    size = await work
    return Measurement(seconds=time.perf_counter() - started, bytes=size, operations=operations)


def gateway_url(name: str, round_number: int, file_name: str, project: str = PROJECT) -> str:
    return gateway_file_url(project, name, f"1.{round_number}.0", file_name)


async def _stored_through_gateway(ctx: Context, kind: str, name: str) -> tuple[str, Path]:
    """The large data file, uploaded (untimed) through the `kind` gateway: its URL."""
    path = ctx.data_file(ctx.sizes.large)
    url = gateway_url(name, 0, "file.bin")
    await gateway_put(await ctx.http(kind), url, ctx.token, path)
    return url, path


def _download_subject(ctx: Context, kind: str, url: str, name: str) -> Subject:
    """GET of `url` from the `kind` gateway (proxy, redirect or filesystem)."""
    http = ctx.http_sessions[kind]
    headers = {"PRIVATE-TOKEN": ctx.token}
    size = ctx.sizes.large
    return Subject(name, "gateway", lambda r: timed(http_get(http, url, headers=headers, expected=size)),
                   ctx.gateway_processes(kind), rss_of=f"gateway-{kind}")


async def _upload_subjects(ctx: Context, path: Path, label: str, *, chunked: bool = True) -> list[Subject]:
    """The gateway's S3 upload of `path`, with Content-Length and (optionally) chunked."""
    http = await ctx.http("s3")
    variants = [("Content-Length", True)] + ([("chunked", False)] if chunked else [])

    def upload(declared: bool, name: str) -> Callable[[int], Awaitable[Measurement]]:
        return lambda r: timed(gateway_put(http, gateway_url(name, r, "file.bin"), ctx.token, path,
                                           declared=declared))

    return [Subject(f"gateway {label}, {variant}", "gateway",
                    upload(declared, f"up-{label.replace(' ', '')}-{variant.lower()}"),
                    ctx.gateway_processes("s3"), rss_of="gateway-s3")
            for variant, declared in variants]


async def _direct_upload_subjects(ctx: Context, path: Path, label: str, kinds: tuple[str, ...]) -> list[Subject]:
    """Straight to S3, the same parts and concurrency as the gateway's defaults."""
    s3 = await ctx.s3()
    subjects = []
    for kind in kinds:
        client = await ctx.s3_client(kind)

        def upload(r: int, client: Any = client, kind: str = kind) -> Awaitable[Measurement]:
            key = f"{ctx.run_prefix}direct/{kind}-{label.replace(' ', '')}-{r}.bin"
            return timed(multipart_put(client, s3.bucket, key, path, ctx.defaults.part_size,
                                       ctx.defaults.part_concurrency))

        subjects.append(Subject(f"direct multipart {label}, {kind} client", "baseline", upload,
                                ctx.s3_processes()))
    return subjects


async def upload_1gib(ctx: Context) -> Scenario:
    size = ctx.sizes.large
    label = human_size(size)
    scenario = Scenario("upload-1gib", f"{label} upload through the gateway's S3 backend vs "
                        f"aiobotocore multipart straight to S3 ({human_size(ctx.defaults.part_size)} "
                        f"parts x {ctx.defaults.part_concurrency} at once, both)")
    path = ctx.data_file(size)
    gateways = await _upload_subjects(ctx, path, label)
    directs = await _direct_upload_subjects(ctx, path, label, ("default", "tuned"))
    scenario.subjects = gateways + directs
    scenario.comparisons = [versus(g, d, THROUGHPUT)
                            for g in gateways for d in directs]
    scenario.notes.append("tuned client: unsigned payload, checksums only when S3 requires them")
    return scenario


async def download_1gib(ctx: Context) -> Scenario:
    size = ctx.sizes.large
    label = human_size(size)
    scenario = Scenario("download-1gib", f"{label} download through the gateway vs get_object "
                        "and a presigned-URL GET")
    s3 = await ctx.s3()
    url, path = await _stored_through_gateway(ctx, "s3", "download")
    key = f"{ctx.run_prefix}direct/download.bin"
    await multipart_put(await ctx.s3_client("tuned"), s3.bucket, key, path,
                        ctx.defaults.part_size, ctx.defaults.part_concurrency)
    client = await ctx.s3_client("default")
    presigned = yarl.URL(await client.generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": key}, ExpiresIn=6 * 3600), encoded=True)
    plain = await ctx.plain_http()
    s3_procs = ctx.s3_processes()
    proxy = _download_subject(ctx, "s3", url, f"gateway {label}, proxy")
    direct = Subject(f"direct get_object {label}", "baseline",
                     lambda r: timed(get_object(client, s3.bucket, key)), s3_procs)
    presigned_get = Subject(f"presigned GET {label}", "baseline",
                            lambda r: timed(http_get(plain, presigned, expected=size)), s3_procs)
    scenario.subjects = [proxy, direct]
    scenario.comparisons = [versus(proxy, direct, THROUGHPUT),
                            versus(proxy, presigned_get, THROUGHPUT)]
    redirect = await _redirect_subject(ctx, scenario, url, label)
    if redirect is not None:
        scenario.subjects.append(redirect)
        scenario.comparisons.append(versus(redirect, presigned_get, THROUGHPUT))
    scenario.subjects.append(presigned_get)
    return scenario


async def _redirect_subject(ctx: Context, scenario: Scenario, url: str, label: str) -> Subject | None:
    """The redirect-mode row, when this gateway has GATEWAY_DOWNLOAD_MODE=redirect."""
    if await ctx.gateway("redirect") is None:
        scenario.notes.append("redirect mode skipped: the gateway refuses GATEWAY_DOWNLOAD_MODE=redirect "
                              f"({ctx.refusal('redirect')})")
        return None
    http = await ctx.http("redirect")
    async with http.get(url, headers={"PRIVATE-TOKEN": ctx.token}, allow_redirects=False) as response:
        if response.status not in (301, 302, 303, 307):
            scenario.notes.append(f"redirect mode skipped: the gateway answered {response.status}, "
                                  "not a redirect, with GATEWAY_DOWNLOAD_MODE=redirect")
            return None
    return _download_subject(ctx, "redirect", url, f"gateway {label}, redirect")


def _random_bodies(count: int, size: int) -> list[bytes]:
    block = os.urandom(count * size)
    return [block[i * size:(i + 1) * size] for i in range(count)]


async def _many_puts_subjects(ctx: Context, name: str, count: int, size: int, concurrency: int,
                              gateways: tuple[str, ...]) -> tuple[list[Subject], Subject]:
    bodies = _random_bodies(count, size)
    s3 = await ctx.s3()
    client = await ctx.s3_client("default")
    subjects = []
    for kind in gateways:
        http = await ctx.http(kind)

        def upload(r: int, http: Any = http, kind: str = kind) -> Awaitable[Measurement]:
            calls = [lambda i=i, body=body: gateway_put(http, gateway_url(f"{name}-{kind}", r, f"f{i}.bin"),
                                                        ctx.token, body)
                     for i, body in enumerate(bodies)]
            return timed(bounded(calls, concurrency), operations=count)

        subjects.append(Subject(f"gateway ({kind}) {count} x {human_size(size)}", "gateway", upload,
                                ctx.gateway_processes(kind), rss_of=f"gateway-{kind}"))

    def direct(r: int) -> Awaitable[Measurement]:
        calls = [lambda i=i, body=body: put_object(client, s3.bucket,
                                                   f"{ctx.run_prefix}direct/{name}/{r}/{i}", body)
                 for i, body in enumerate(bodies)]
        return timed(bounded(calls, concurrency), operations=count)

    baseline = Subject(f"direct put_object {count} x {human_size(size)}", "baseline", direct,
                       ctx.s3_processes())
    return subjects, baseline


async def small_files(ctx: Context) -> Scenario:
    sizes = ctx.sizes
    scenario = Scenario("small-files", f"{sizes.small_count} x {human_size(sizes.small_size)} at "
                        f"concurrency {sizes.small_concurrency}: the gateway on S3 and on the "
                        "filesystem vs put_object straight to S3")
    gateways, direct = await _many_puts_subjects(ctx, "small", sizes.small_count, sizes.small_size,
                                                 sizes.small_concurrency, ("s3", "fs"))
    scenario.subjects = [*gateways, direct]
    scenario.comparisons = [versus(g, direct, RATE) for g in gateways]
    return scenario


async def many_1mib(ctx: Context) -> Scenario:
    sizes = ctx.sizes
    scenario = Scenario("many-1mib", f"{sizes.many_count} x {human_size(sizes.many_size)} all at "
                        "once through the gateway's S3 backend vs put_object straight to S3")
    gateways, direct = await _many_puts_subjects(ctx, "many", sizes.many_count, sizes.many_size,
                                                 sizes.many_count, ("s3",))
    scenario.subjects = [*gateways, direct]
    scenario.comparisons = [versus(g, direct, THROUGHPUT) for g in gateways]
    return scenario


async def _dd(source: Path, dest: Path) -> int:
    process = await asyncio.create_subprocess_exec(
        "dd", f"if={source}", f"of={dest}", "bs=8M", "conv=fsync",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"dd failed: {err.decode()}")
    return source.stat().st_size


async def fs_upload(ctx: Context) -> Scenario:
    size = ctx.sizes.large
    label = human_size(size)
    scenario = Scenario("fs-upload", f"{label} upload to the gateway's filesystem backend vs "
                        "`dd bs=8M conv=fsync` of the same file on the same disk")
    path = ctx.data_file(size)
    http = await ctx.http("fs")
    gateway = Subject(f"gateway (fs) {label}, Content-Length", "gateway",
                      lambda r: timed(gateway_put(http, gateway_url("fs-up", r, "file.bin"),
                                                  ctx.token, path)),
                      ("gateway-fs",), rss_of="gateway-fs")
    dd = Subject(f"dd bs=8M conv=fsync {label}", "baseline",
                 lambda r: timed(_dd(path, ctx.scratch_dir / f"dd-{r}.bin")))
    scenario.subjects = [gateway, dd]
    scenario.comparisons = [versus(gateway, dd, THROUGHPUT)]
    scenario.notes.append("dd's CPU counts as the client's")
    return scenario


async def fs_download(ctx: Context) -> Scenario:
    size = ctx.sizes.large
    label = human_size(size)
    scenario = Scenario("fs-download", f"{label} download from the gateway's filesystem backend vs "
                        "a plain sendfile server (aiohttp FileResponse, its own process)")
    url, path = await _stored_through_gateway(ctx, "fs", "fs-down")
    base = await ctx.sendfile_url()
    plain = await ctx.plain_http()
    gateway = _download_subject(ctx, "fs", url, f"gateway (fs) {label} GET")
    sendfile = Subject(f"sendfile server {label} GET", "baseline",
                       lambda r: timed(http_get(plain, f"{base}/{path.name}", expected=size)),
                       ("sendfile-server",))
    scenario.subjects = [gateway, sendfile]
    scenario.comparisons = [versus(gateway, sendfile, THROUGHPUT)]
    return scenario


def _sql(name: str) -> str:
    """A named statement of listing.sql (`-- name: x` above each)."""
    statements, current = {}, None
    for line in SQL.read_text().splitlines():
        if line.startswith("-- name: "):
            current = line.removeprefix("-- name: ").strip()
            statements[current] = ""
        elif current is not None:
            statements[current] += line + "\n"
    return statements[name]


async def _seed_listing(ctx: Context) -> None:
    if "listing-seeded" in ctx.flags:
        return
    conn = await asyncpg.connect(ctx.database_env["GATEWAY_DATABASE_URL"])
    try:
        project_id = await conn.fetchval(_sql("project_id"), LISTING_PROJECT)
        await conn.execute(_sql("seed_packages"), project_id, ctx.sizes.packages)
        await conn.execute(_sql("seed_files"), project_id)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    ctx.flags.add("listing-seeded")


async def _sql_floor(ctx: Context) -> Subject:
    """What the database alone takes for a page of 100 and its count: the floor."""
    conn = await asyncpg.connect(ctx.database_env["GATEWAY_DATABASE_URL"])
    ctx.stack.push_async_callback(conn.close)
    project_id = await conn.fetchval(_sql("project_id"), LISTING_PROJECT)
    page = _sql("page_floor")

    async def call() -> None:
        await conn.fetch(page, project_id)

    return Subject("SQL: the page's query on a direct connection", "baseline",
                   lambda r: timed_latencies(call, ctx.sizes.calls))


def _gateway_calls(ctx: Context, http: Any, path: str, params: dict[str, str]) -> Callable[[], Awaitable[None]]:
    headers = {"PRIVATE-TOKEN": ctx.token}

    async def call() -> None:
        async with http.get(path, params=params, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")

    return call


async def _warm(call: Callable[[], Awaitable[None]]) -> None:
    for _ in range(5):  # connections, plans, caches
        await call()


async def listing(ctx: Context) -> Scenario:
    scenario = Scenario("listing", f"Packages API lists at {ctx.sizes.packages} packages of 3 files, "
                        f"{ctx.sizes.calls} calls one after another per round, vs the SQL alone")
    await _seed_listing(ctx)
    http, procs = await _any_gateway(ctx)
    project = LISTING_PROJECT.replace("/", "%2F")
    cases = [("project packages, per_page=100", f"/api/v4/projects/{project}/packages"),
             ("group packages, per_page=100", f"/api/v4/groups/{LISTING_PROJECT.split('/')[0]}/packages")]
    floor = await _sql_floor(ctx)
    for label, path in cases:
        call = _gateway_calls(ctx, http, path, {"per_page": "100"})
        await _warm(call)
        gateway = Subject(f"gateway: {label}", "gateway",
                          lambda r, call=call: timed_latencies(call, ctx.sizes.calls), procs)
        scenario.subjects.append(gateway)
        scenario.comparisons.append(versus(gateway, floor, MEDIAN_MS, f"{label} vs SQL"))
    scenario.subjects.append(floor)
    return scenario


async def _any_gateway(ctx: Context) -> tuple[Any, tuple[str, ...]]:
    """The listing scenarios need only the database: the gateway already running, if any."""
    kind = "s3" if "s3" in ctx.http_sessions else "fs"
    return await ctx.http(kind), (f"gateway-{kind}",)


async def registry_page(ctx: Context) -> Scenario:
    scenario = Scenario("registry-page", f"the HTML page /{LISTING_PROJECT}/-/packages at "
                        f"{ctx.sizes.packages} packages, signed in, vs the SQL alone")
    await _seed_listing(ctx)
    api, procs = await _any_gateway(ctx)
    # The page reads a session cookie, not token headers: sign in as a browser does.
    jar = aiohttp.CookieJar(unsafe=True)  # the gateway is on 127.0.0.1
    http = await ctx.stack.enter_async_context(
        aiohttp.ClientSession(base_url=api._base_url, cookie_jar=jar))
    async with http.post("/-/sign_in", data={"token": ctx.token},
                         allow_redirects=False) as response:
        if response.status == 404:
            scenario.notes.append("skipped: the gateway has no registry page")
            return scenario
        if response.status != 303:
            raise RuntimeError(f"sign-in failed: {response.status}")
    path = f"/{LISTING_PROJECT}/-/packages"

    async def call() -> None:
        async with http.get(path) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")

    await _warm(call)
    floor = await _sql_floor(ctx)
    gateway = Subject("gateway: registry page", "gateway",
                      lambda r: timed_latencies(call, ctx.sizes.calls), procs)
    scenario.subjects = [gateway, floor]
    scenario.comparisons = [versus(gateway, floor, MEDIAN_MS, "registry page vs SQL")]
    return scenario


async def _probe(http: Any, path: str, until: asyncio.Event | None, count: int) -> list[float]:
    """Latencies of `path`, one request every PROBE_INTERVAL, until the event (or `count` done)."""
    latencies: list[float] = []
    while (until is not None and not until.is_set()) or (until is None and len(latencies) < count):
        started = time.perf_counter()
        async with http.get(path) as response:
            await response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PROBE_INTERVAL)
    return latencies


async def liveness_during_upload(ctx: Context) -> Scenario:
    size = ctx.sizes.large
    label = human_size(size)
    http = await ctx.http("s3")
    for path in LIVENESS_PATHS:
        async with http.get(path) as response:
            if response.status == 200:
                break
    scenario = Scenario("liveness-during-upload", f"latency of {path} while a {label} upload "
                        "streams through the gateway (S3), vs the idle gateway")
    if path != LIVENESS_PATHS[0]:
        scenario.notes.append(f"{LIVENESS_PATHS[0]} is not there yet: probing {path}")
    data = ctx.data_file(size)
    idle_probes = 100 if ctx.sizes.large >= 1024 * MiB else 20

    async def during(r: int) -> Measurement:
        done = asyncio.Event()
        probe = asyncio.ensure_future(_probe(http, path, done, 0))
        try:
            measurement = await timed(gateway_put(http, gateway_url("live", r, "file.bin"), ctx.token, data))
        finally:
            done.set()
        measurement.latencies_ms = await probe
        return measurement

    async def idle(r: int) -> Measurement:
        started = time.perf_counter()
        latencies = await _probe(http, path, None, idle_probes)
        return Measurement(seconds=time.perf_counter() - started, latencies_ms=latencies)

    procs = ctx.gateway_processes("s3")
    busy = Subject(f"gateway during a {label} upload", "gateway", during, procs, rss_of="gateway-s3")
    calm = Subject("gateway idle", "baseline", idle, procs)
    scenario.subjects = [busy, calm]
    scenario.comparisons = [versus(busy, calm, metric,
                                   f"{path} {metric.unit.removeprefix('ms ')}, during upload vs idle")
                            for metric in (P50_MS, P99_MS, MAX_MS)]
    return scenario


async def upload_6gib(ctx: Context) -> Scenario:
    large, huge = ctx.sizes.large, ctx.sizes.huge
    scenario = Scenario("upload-6gib", f"{human_size(huge)} upload through the gateway (S3): memory "
                        f"stays flat (peak RSS vs a {human_size(large)} upload) and throughput vs "
                        "direct multipart")
    small_subject, = await _upload_subjects(ctx, ctx.data_file(large), human_size(large), chunked=False)
    big_subject, = await _upload_subjects(ctx, ctx.data_file(huge), human_size(huge), chunked=False)
    direct, = await _direct_upload_subjects(ctx, ctx.data_file(huge), human_size(huge), ("default",))
    # The small upload is the RSS yardstick here, so it is the "baseline" of that row.
    small_subject.role = "baseline"
    scenario.subjects = [big_subject, direct, small_subject]
    scenario.comparisons = [
        versus(big_subject, direct, THROUGHPUT),
        versus(big_subject, small_subject, PEAK_RSS_MB,
               f"peak RSS, {human_size(huge)} vs {human_size(large)} upload"),
    ]
    return scenario


BUILDERS: dict[str, Callable[[Context], Awaitable[Scenario]]] = {
    "upload-1gib": upload_1gib,
    "download-1gib": download_1gib,
    "small-files": small_files,
    "many-1mib": many_1mib,
    "fs-upload": fs_upload,
    "fs-download": fs_download,
    "listing": listing,
    "registry-page": registry_page,
    "liveness-during-upload": liveness_during_upload,
    "upload-6gib": upload_6gib,
}
DEFAULT_SCENARIOS = [name for name in BUILDERS if name != "upload-6gib"]
