"""The suite's machinery: scenarios made of subjects (the gateway's way and the
baselines'), rounds that alternate between them, and the services they share,
started on first use and stopped in reverse order whatever happens."""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import psutil

from benchmarks.measure import GiB, MiB, CpuMeter, Measurement, RssSampler, median, percentile
from benchmarks.progress import Progress
from benchmarks.services import (
    GatewayProcess, S3Endpoint, ServiceExited, developer_token, external_s3, gateway_process,
    postgres, seaweedfs, sendfile_server,
)
from benchmarks.transfers import abort_uploads, delete_keys, list_keys, open_s3_clients
from gateway.embedded import ensure_database
from gateway.settings import Settings

KiB = 1024
PROJECT = "bench/app"
LISTING_PROJECT = "listing/app"


@dataclass(frozen=True)
class Sizes:
    rounds: int
    large: int
    huge: int
    small_count: int
    small_size: int
    small_concurrency: int
    many_count: int
    many_size: int
    packages: int
    calls: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(rounds=3, large=1 * GiB, huge=6 * GiB, small_count=1000, small_size=4 * KiB,
                   small_concurrency=16, many_count=64, many_size=1 * MiB, packages=500, calls=50)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(rounds=2, large=32 * MiB, huge=192 * MiB, small_count=100, small_size=4 * KiB,
                   small_concurrency=16, many_count=16, many_size=1 * MiB, packages=100, calls=10)


def human_size(size: int) -> str:
    for unit, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


@dataclass(frozen=True)
class Metric:
    unit: str
    value: Callable[[Measurement], float]
    higher_is_better: bool = True


THROUGHPUT = Metric("MiB/s", lambda m: m.bytes / MiB / m.seconds)
RATE = Metric("files/s", lambda m: m.operations / m.seconds)
MEDIAN_MS = Metric("ms median", lambda m: median(m.latencies_ms), higher_is_better=False)
P50_MS = Metric("ms p50", lambda m: percentile(m.latencies_ms, 0.5), higher_is_better=False)
P99_MS = Metric("ms p99", lambda m: percentile(m.latencies_ms, 0.99), higher_is_better=False)
MAX_MS = Metric("ms max", lambda m: max(m.latencies_ms), higher_is_better=False)
PEAK_RSS_MB = Metric("MB peak RSS", lambda m: (m.peak_rss_bytes or 0) / 1e6, higher_is_better=False)


@dataclass
class Subject:
    """One way of doing the scenario's work; `run(round)` does only the timed work."""

    name: str
    role: Literal["gateway", "baseline"]
    run: Callable[[int], Awaitable[Measurement]]
    # Services whose CPU seconds count for this subject (the client always does).
    processes: tuple[str, ...] = ()
    # The service whose peak RSS is sampled while the subject runs.
    rss_of: str | None = None


@dataclass(frozen=True)
class Comparison:
    label: str
    gateway: str
    baseline: str
    metric: Metric


def versus(gateway: Subject, baseline: Subject, metric: Metric, label: str = "") -> Comparison:
    return Comparison(label or f"{gateway.name} vs {baseline.name}", gateway.name, baseline.name, metric)


@dataclass
class Scenario:
    name: str
    description: str
    subjects: list[Subject] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def order(self) -> list[Subject]:
        """Gateway, baseline, gateway, baseline...: neither side always goes first
        into a warm (or a busy) machine."""
        gateways = [s for s in self.subjects if s.role == "gateway"]
        baselines = [s for s in self.subjects if s.role == "baseline"]
        ordered: list[Subject] = []
        for index in range(max(len(gateways), len(baselines))):
            ordered += gateways[index:index + 1] + baselines[index:index + 1]
        return ordered


class Context:
    """The services scenarios share. Each starts on first use and joins `stack`, which
    stops them all (in reverse order) when the run ends, by error or Ctrl-C too."""

    def __init__(self, stack: AsyncExitStack, workdir: Path, sizes: Sizes,
                 environ: dict[str, str]) -> None:
        self.stack = stack
        self.sync_stack = stack.enter_context(ExitStack())
        # The servers under test; stopped before the run's objects are removed, so
        # none is still writing (or aborting its own uploads) meanwhile.
        self.servers = self.sync_stack.enter_context(ExitStack())
        stack.callback(self.servers.close)  # and before the database they use stops
        self.workdir = workdir
        self.sizes = sizes
        self.environ = environ
        self.defaults = Settings()
        # A prefix of our own: on a shared S3 endpoint we remove only what we wrote.
        self.run_prefix = f"bench-{secrets.token_hex(4)}/"
        self.processes: dict[str, psutil.Process] = {"client": psutil.Process(os.getpid())}
        self.database_env: dict[str, str] = {}
        self.token = ""
        self.http_sessions: dict[str, aiohttp.ClientSession] = {}
        self._s3: S3Endpoint | None = None
        self._clients: dict[str, Any] = {}
        self._gateways: dict[str, GatewayProcess | None] = {}
        self._gateway_refusals: dict[str, str] = {}
        self._data: dict[str, Path] = {}
        self._sendfile: str | None = None
        self.flags: set[str] = set()

    async def start_database(self) -> None:
        embedded = self.sync_stack.enter_context(postgres(self.workdir))
        await ensure_database(embedded)
        self.database_env = {"GATEWAY_DATABASE_URL": embedded.dsn}
        self.token = await developer_token(self.database_env, self.workdir,
                                           [PROJECT, LISTING_PROJECT])

    # -- S3 -------------------------------------------------------------------------
    async def s3(self) -> S3Endpoint:
        if self._s3 is None:
            endpoint = external_s3(self.environ)
            if endpoint is None:
                endpoint = self.sync_stack.enter_context(seaweedfs(self.workdir))
                self.processes["seaweedfs"] = psutil.Process(endpoint.process.pid)
            self._clients = await open_s3_clients(self.stack, endpoint)
            admin = self._clients["default"]
            try:
                await admin.head_bucket(Bucket=endpoint.bucket)
            except Exception:  # noqa: BLE001 - absent or not yet ours: try to make it
                await admin.create_bucket(Bucket=endpoint.bucket)
            self.stack.push_async_callback(self._remove_run_objects)
            self._s3 = endpoint
        return self._s3

    @property
    def s3_name(self) -> str:
        return self._s3.name if self._s3 is not None else "none"

    def s3_processes(self) -> tuple[str, ...]:
        return ("seaweedfs",) if "seaweedfs" in self.processes else ()

    def gateway_processes(self, kind: str) -> tuple[str, ...]:
        """The processes doing the work when the `kind` gateway serves: itself, and S3's."""
        return (f"gateway-{kind}", *(self.s3_processes() if kind != "fs" else ()))

    async def s3_client(self, kind: str = "default") -> Any:
        await self.s3()
        return self._clients[kind]

    async def _remove_run_objects(self) -> None:
        self.servers.close()
        if self._s3 is not None:
            client = self._clients["default"]
            await abort_uploads(client, self._s3.bucket, self.run_prefix)
            await delete_keys(client, self._s3.bucket,
                              list(await list_keys(client, self._s3.bucket, self.run_prefix)))

    # -- gateways -------------------------------------------------------------------
    async def gateway(self, kind: str) -> GatewayProcess | None:
        """`s3`, `fs` or `redirect` (S3 with GATEWAY_DOWNLOAD_MODE=redirect); None when
        the gateway refuses to start that way (see `refusal`)."""
        if kind not in self._gateways:
            env = dict(self.database_env)
            if kind == "fs":
                env["GATEWAY_DATA_DIR"] = str(self.fs_data_dir)
            else:
                env.update((await self.s3()).gateway_env(self.run_prefix + "gateway"))
            if kind == "redirect":
                env["GATEWAY_DOWNLOAD_MODE"] = "redirect"
            try:
                process = self.servers.enter_context(
                    gateway_process(f"gateway-{kind}", env, self.workdir))
            except ServiceExited as exc:
                self._gateway_refusals[kind] = str(exc)
                self._gateways[kind] = None
                return None
            self._gateways[kind] = process
            self.processes[f"gateway-{kind}"] = psutil.Process(process.process.pid)
            session = aiohttp.ClientSession(
                process.base_url, timeout=aiohttp.ClientTimeout(total=None),
                connector=aiohttp.TCPConnector(limit=0), requote_redirect_url=False)
            self.http_sessions[kind] = await self.stack.enter_async_context(session)
        return self._gateways[kind]

    def refusal(self, kind: str) -> str:
        return self._gateway_refusals.get(kind, "")

    async def http(self, kind: str) -> aiohttp.ClientSession:
        await self.gateway(kind)
        return self.http_sessions[kind]

    async def plain_http(self) -> aiohttp.ClientSession:
        """A session for absolute URLs: presigned GETs, the sendfile server."""
        if "plain" not in self.http_sessions:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None),
                                            connector=aiohttp.TCPConnector(limit=0),
                                            requote_redirect_url=False)
            self.http_sessions["plain"] = await self.stack.enter_async_context(session)
        return self.http_sessions["plain"]

    @property
    def fs_data_dir(self) -> Path:
        return self.workdir / "gateway-fs"

    async def sendfile_url(self) -> str:
        if self._sendfile is None:
            url, process = self.servers.enter_context(
                sendfile_server(self.data_dir, self.workdir))
            self.processes["sendfile-server"] = psutil.Process(process.pid)
            self._sendfile = url
        return self._sendfile

    # -- data -----------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        path = self.workdir / "data"
        path.mkdir(exist_ok=True)
        return path

    def data_file(self, size: int) -> Path:
        """A file of random bytes (never zeros: nothing may compress or skip them),
        made once per run and removed with the run's folder."""
        if size not in self._data:
            path = self.data_dir / f"random-{size}.bin"
            with path.open("wb") as handle:
                left = size
                while left:
                    block = os.urandom(min(left, 8 * MiB))
                    handle.write(block)
                    left -= len(block)
            self._data[size] = path
        return self._data[size]

    # -- what scenarios leave behind ------------------------------------------------
    async def stored(self) -> set[str]:
        """Every object the run has stored, in S3 and on the local disk."""
        found: set[str] = set()
        if self._s3 is not None:
            found |= await list_keys(self._clients["default"], self._s3.bucket, self.run_prefix)
        for root in (self.fs_data_dir / "objects", self.scratch_dir):
            if root.exists():
                found |= {str(path) for path in root.rglob("*") if path.is_file()}
        return found

    async def remove_stored_except(self, keep: set[str]) -> None:
        """Between runs, untimed: rounds of 1 GiB uploads would otherwise fill the disk."""
        extra = await self.stored() - keep
        s3_keys = [key for key in extra if not key.startswith("/")]
        if s3_keys and self._s3 is not None:
            await delete_keys(self._clients["default"], self._s3.bucket, s3_keys)
        for path in extra - set(s3_keys):
            Path(path).unlink(missing_ok=True)

    @property
    def scratch_dir(self) -> Path:
        path = self.workdir / "scratch"
        path.mkdir(exist_ok=True)
        return path


async def measured(subject: Subject, round_number: int, ctx: Context) -> Measurement:
    names = ("client", *subject.processes)
    meter = CpuMeter({name: ctx.processes[name] for name in names if name in ctx.processes})
    with ExitStack() as sampling:
        sampler = (sampling.enter_context(RssSampler(ctx.processes[subject.rss_of]))
                   if subject.rss_of else None)
        meter.start()
        measurement = await subject.run(round_number)
        measurement.cpu_seconds = meter.stop()
    if sampler is not None:
        measurement.peak_rss_bytes = sampler.peak
    return measurement


async def run_scenario(scenario: Scenario, ctx: Context, rounds: int,
                       progress: Progress) -> dict[str, list[Measurement]]:
    results: dict[str, list[Measurement]] = {subject.name: [] for subject in scenario.subjects}
    keep = await ctx.stored()
    for round_number in range(rounds):
        for subject in scenario.order():
            progress.step(f"{scenario.name}: {subject.name} ({round_number + 1}/{rounds})")
            results[subject.name].append(await measured(subject, round_number, ctx))
            await ctx.remove_stored_except(keep)
            progress.advance()
    return results
