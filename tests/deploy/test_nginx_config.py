"""`nginx -t` of deploy/nginx/gateway.conf with Debian's nginx."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp

from tests.deploy.nginx import SITE, nginx_command, nginx_test, render_site, write_config
from tests.deploy.processes import running
from tests.serve_process import free_port


def test_nginx_accepts_the_gateway_config(tmp_path: Path) -> None:
    config = write_config(tmp_path, render_site(free_port(), [free_port(), free_port()]))
    result = nginx_test(config)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_check_catches_a_broken_config(tmp_path: Path) -> None:
    """The check above can fail: the same wrapper with one directive broken."""
    site = render_site(free_port(), [free_port(), free_port()])
    broken = site.replace("client_max_body_size 0;", "client_max_body_size banana;")
    assert broken != site
    result = nginx_test(write_config(tmp_path, broken))
    assert result.returncode != 0
    assert "client_max_body_size" in result.stderr


def test_uploads_stream_through_unbuffered_and_uncapped() -> None:
    """The directives the live test relies on are in the shipped file, not in the wrapper."""
    directives = {line.strip() for line in SITE.read_text().splitlines()}
    for wanted in ["client_max_body_size 0;", "proxy_request_buffering off;",
                   "proxy_buffering off;", "proxy_http_version 1.1;",
                   'proxy_set_header Connection "";', "proxy_read_timeout 4h;",
                   "proxy_send_timeout 4h;", "send_timeout 4h;"]:
        assert wanted in directives, wanted
    # proxy_pass without a URI part: the client's path (with %2F) goes on unchanged.
    assert re.findall(r"proxy_pass\s+([^;]+);", SITE.read_text()) == ["http://gateway_replicas"]


async def test_nginx_own_answers_are_json(tmp_path: Path) -> None:
    """With every replica down, a 502 in the gateway's JSON shape; /metrics is not
    served through the balancer."""
    port = free_port()
    config = write_config(tmp_path / "nginx", render_site(port, [free_port(), free_port()]))
    log = tmp_path / "nginx.log"
    base = f"http://127.0.0.1:{port}"
    async with running(nginx_command(config), {}, log) as nginx, aiohttp.ClientSession() as http:
        for _ in range(100):
            assert nginx.returncode is None, log.read_text()
            try:
                async with http.get(f"{base}/-/health") as response:
                    assert response.status == 502
                    assert response.content_type == "application/json"
                    assert await response.json() == {"message": "502 Bad Gateway"}
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"nginx did not answer:\n{log.read_text()}")
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 404
            assert await response.json() == {"message": "404 Not Found"}
