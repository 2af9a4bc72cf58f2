"""deploy/nginx/gateway.conf run by Debian's nginx on 127.0.0.1, for the tests.

The file names compose's replicas (gateway-1, gateway-2), which do not resolve
here, and listens on a fixed port: the copy we run points its upstream at local
ports and listens on a free one. Everything else is the file as shipped, inside
a wrapper main config with a private prefix (pid, logs, temp paths)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.deploy.files import DEPLOY, require_tool

SITE = DEPLOY / "nginx" / "gateway.conf"
UPSTREAMS = ("gateway-1:8080", "gateway-2:8080")
LISTEN = "listen 8080;"


def render_site(listen_port: int, upstream_ports: list[int]) -> str:
    site = SITE.read_text()
    for name, port in zip(UPSTREAMS, upstream_ports, strict=True):
        assert site.count(name) == 1, f"{SITE} should name the upstream {name} once"
        site = site.replace(name, f"127.0.0.1:{port}")
    assert site.count(LISTEN) == 1, f"{SITE} should have one `{LISTEN}`"
    return site.replace(LISTEN, f"listen 127.0.0.1:{listen_port};")


def write_config(prefix: Path, site: str) -> Path:
    """The wrapper main config around `site`; returns its path."""
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "gateway.conf").write_text(site)
    # Workers of a root master run as nobody, who cannot enter a private temp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = prefix / "nginx.conf"
    config.write_text(f"""{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/gateway.conf;
}}
""")
    return config


def nginx_command(config: Path, *extra: str) -> list[str]:
    prefix = str(config.parent)
    return [require_tool("nginx"), "-p", prefix, "-c", str(config), "-e", f"{prefix}/error.log",
            *extra]


def nginx_test(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(nginx_command(config, "-t"), capture_output=True, text=True, timeout=30)
