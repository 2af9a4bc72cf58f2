"""deploy/Dockerfile and .dockerignore, checked without a Docker daemon: the image
runs as a non-root user that owns its data volume, under tini, and its health
check command (run here for real) tells a live gateway from a dead one."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.deploy.files import DEPLOY, ROOT, dockerfile_user_id
from tests.serve_process import free_port

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = [(m[1].upper(), m[2].strip())
             for m in re.finditer(r"^(\w+)\s+(.*)$", text, re.M) if not m[0].startswith("#")]
    last_from = max(i for i, (name, _) in enumerate(found) if name == "FROM")
    return found[last_from:]


def arguments(name: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == name]


def test_image_runs_as_a_non_root_user_owning_the_data_volume() -> None:
    uid = dockerfile_user_id()
    assert uid != 0
    [setup] = arguments("RUN")
    assert re.search(rf"useradd --system --uid {uid} ", setup)
    assert "chown gateway:gateway /data" in setup and "chmod 0700 /data" in setup
    assert arguments("VOLUME") == ['["/data"]']
    assert "GATEWAY_DATA_DIR=/data" in arguments("ENV")[0]
    assert f"GATEWAY_PORT={arguments('EXPOSE')[0]}" in arguments("ENV")[0]


def test_tini_is_the_init() -> None:
    [setup] = arguments("RUN")
    assert re.search(r"apt-get install -y --no-install-recommends tini\b", setup)
    assert json.loads(arguments("ENTRYPOINT")[0]) == ["/usr/bin/tini", "--"]
    assert json.loads(arguments("CMD")[0]) == ["gateway", "serve"]


def healthcheck_command() -> list[str]:
    [healthcheck] = arguments("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert re.search(r"--start-period=\d+s", options)
    return json.loads(command)


@pytest.fixture
async def liveness_server() -> AsyncIterator[tuple[int, list[int]]]:
    """A stand-in answering /-/liveness with the status at the list's head."""
    status = [200]

    async def liveness(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok" if status[0] == 200 else "error"},
                                 status=status[0])

    app = web.Application()
    app.router.add_get("/-/liveness", liveness)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, status
    finally:
        await runner.cleanup()


async def run_healthcheck(port: int) -> int:
    program, *args = healthcheck_command()
    assert program == "python"  # the image's interpreter; no curl in slim images
    process = await asyncio.create_subprocess_exec(
        sys.executable, *args, env={**os.environ, "GATEWAY_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(process.wait(), 30)


async def test_healthcheck_passes_only_while_liveness_answers_200(
        liveness_server: tuple[int, list[int]]) -> None:
    port, status = liveness_server
    assert await run_healthcheck(port) == 0
    status[0] = 503
    assert await run_healthcheck(port) != 0
    assert await run_healthcheck(free_port()) != 0  # nothing listening


@functools.cache
def dockerignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, re-includes) in order, as Docker reads .dockerignore."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            regex += {"**/": "(.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token))
        rules.append((re.compile(regex + r"\Z"), negated))
    return rules


def in_build_context(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    included = True
    for regex, negated in dockerignore_rules():
        if any(regex.match(candidate) for candidate in candidates):
            included = negated
    return included


def tracked_files() -> list[str]:
    """The repository's files; what is only on one machine (virtualenvs, data dirs,
    results) is covered by the kept-out examples below."""
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True, timeout=60)
    return [path for path in listing.stdout.decode().split("\0") if path]


def test_build_context_holds_only_what_the_image_installs() -> None:
    context = sorted(path for path in tracked_files() if in_build_context(path))
    wanted = {"pyproject.toml", "README.md"}
    for path in context:
        assert path in wanted or path.split("/")[0] in {"gateway", "sql"}, path
        assert "__pycache__" not in path
    assert {"pyproject.toml", "README.md", "gateway/cli.py", "sql/0001_initial.sql"} <= set(context)
    assert sum((ROOT / path).stat().st_size for path in context) < 2 * 1024 * 1024
    for kept_out in [".git/HEAD", ".venv/bin/python", "venv/lib/x.py", "gateway-data/postgres/x",
                     "benchmarks/results/upload.json", "tests/conftest.py", "docs/images/a.png",
                     "gateway/__pycache__/cli.cpython-311.pyc"]:
        assert not in_build_context(kept_out), kept_out


def test_every_copied_source_is_in_the_build_context() -> None:
    build_stage = re.findall(r"^COPY (?!--from)(.+?) \S+$", DOCKERFILE.read_text(), re.M)
    sources = [source for line in build_stage for source in line.split()]
    assert sorted(sources) == ["README.md", "gateway", "pyproject.toml", "sql"]
    for source in sources:
        assert in_build_context(source), source
