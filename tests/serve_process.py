"""`gateway serve` run as a real process on 127.0.0.1, for lifecycle tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import psutil


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without GATEWAY_* settings, with the running interpreter's
    scripts first on PATH: the `gateway` command of the virtualenv under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def gateway_cli(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def terminate(process: asyncio.subprocess.Process, timeout: float = 30.0) -> None:
    """For fixtures: SIGTERM (a graceful stop), then SIGKILL if it is not gone in time."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """Every running postgres process of the cluster in `pgdata`."""
    wanted = str(pgdata.resolve())
    found = []
    for process in psutil.process_iter(["name", "cmdline", "cwd"]):
        if process.info["name"] != "postgres":
            continue
        if wanted in (process.info["cmdline"] or []) or process.info["cwd"] == wanted:
            found.append(process)
    return found


class ServeProcess:
    """One `gateway serve`; its stdout (log lines) and stderr are kept."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.env = env
        self.cwd = cwd
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.stdout = b""
        self.stderr = b""

    async def start(self, *extra: str) -> ServeProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "serve", "--port", str(self.port), *extra,
            env=self.env, cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return self

    async def ready(self, timeout: float = 60.0) -> ServeProcess:
        """Until the port answers; fails with the output if the process ended."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    await self.wait()
                    raise AssertionError(f"serve exited {self.process.returncode}: {self.output}")
                try:
                    async with http.get(f"{self.base}/-/liveness") as response:
                        if response.status == 200:
                            return self
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"serve not ready in {timeout}s")

    def send_signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        self.stdout += out or b""
        self.stderr += err or b""
        return self.process.returncode  # type: ignore[return-value]

    async def stop(self) -> None:
        """For fixtures: whatever state it is in, make sure it is gone."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await self.wait(60)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).decode(errors="replace")
