"""Real processes for the deploy tests: started, waited for, always stopped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from tests.serve_process import terminate


@asynccontextmanager
async def running(command: Sequence[str], env: dict[str, str],
                  log: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Runs `command` with stdout and stderr to `log`; SIGTERM (then SIGKILL) at the end."""
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=output,
            stderr=asyncio.subprocess.STDOUT)
        try:
            yield process
        finally:
            await terminate(process)


async def wait_until_healthy(url: str, process: asyncio.subprocess.Process, log: Path,
                             timeout: float = 60.0) -> None:
    """Until GET `url` answers 200; fails at once, with the log, if the process died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            assert process.returncode is None, f"exited {process.returncode}:\n{log.read_text()}"
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert loop.time() < deadline, f"{url} not healthy in {timeout}s:\n{log.read_text()}"
            await asyncio.sleep(0.1)


def json_lines(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a process (other output skipped)."""
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines
