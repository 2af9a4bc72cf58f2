"""What the deploy tests share: where the files are, and reading them."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def shutdown_grace_seconds() -> float:
    """How long `gateway serve` lets requests in flight run after SIGTERM; every
    supervisor must wait longer before it kills. The `shutdown_grace` setting's
    default where the gateway has one, else cli.serve's fixed 30 s."""
    return float(getattr(Settings(), "shutdown_grace", 30.0))


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def require_tool(name: str) -> str:
    """The path of a tool the test drives; .ci/run installs it from Debian."""
    path = shutil.which(name)
    assert path, f"{name} is not installed (.ci/run installs it with apt-get)"
    return path


def assert_known_settings(environ: Mapping[str, str]) -> Settings:
    """The GATEWAY_* variables a deploy file sets are settings the gateway knows and
    accepts (an unknown name or a wrong value would stop it at start)."""
    gateway_vars = {k: str(v) for k, v in environ.items() if k.startswith("GATEWAY_")}
    assert gateway_vars, "no GATEWAY_* settings found"
    return Settings.from_env(gateway_vars)


def dockerfile_user_id() -> int:
    """The numeric user the image runs as (its last USER instruction)."""
    users = re.findall(r"^USER\s+(\d+)(?::\d+)?\s*$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert users, "the Dockerfile's USER must be numeric (runAsNonRoot checks it)"
    return int(users[-1])
