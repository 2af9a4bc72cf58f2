"""The README's walkthrough runs as written: every credential kind with curl."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from pathlib import Path

from tests.serve_process import clean_env, free_port

README = Path(__file__).resolve().parents[1] / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    section = text.split("<!-- walkthrough:start -->")[1].split("<!-- walkthrough:end -->")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert len(blocks) >= 6
    return "\n".join(blocks)


async def test_readme_walkthrough_runs(database_url: str, tmp_path: Path) -> None:
    assert shutil.which("curl"), "the walkthrough needs curl (.ci/run installs it)"
    port = free_port()
    env = clean_env(GATEWAY_DATABASE_URL=database_url, GATEWAY_DATA_DIR=str(tmp_path / "data"),
                    GATEWAY=f"http://127.0.0.1:{port}")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", "--port", str(port), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async def listening() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            writer.close()
            return True

        for _ in range(300):
            if await listening():
                break
            await asyncio.sleep(0.1)
        script = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", walkthrough(), env=env, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await script.communicate()
        assert script.returncode == 0, output.decode()
    finally:
        server.send_signal(signal.SIGTERM)
        await asyncio.wait_for(server.wait(), 30)
