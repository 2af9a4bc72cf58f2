"""deploy/systemd/gateway.service: `systemd-analyze verify` and `security` accept it,
and it carries the hardening and shutdown settings deploy/README.md promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.files import DEPLOY, assert_known_settings, shutdown_grace_seconds

UNIT = DEPLOY / "systemd" / "gateway.service"
INSTALLED_GATEWAY = "/opt/gateway/bin/gateway"
# `systemd-analyze security` exposure, 0 (locked down) to 100; 2.0 is "OK".
MAX_EXPOSURE = 20


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package has it)")
    probe = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"systemd-analyze cannot run here: {probe.stderr.strip()}")
    return path


def local_copy(tmp_path: Path, text: str) -> Path:
    """The unit with ExecStart pointing at this checkout's `gateway` (verify checks that
    the program exists; the unit names where the install steps put it)."""
    assert text.count(f"ExecStart={INSTALLED_GATEWAY} ") == 1
    installed_here = Path(sys.executable).with_name("gateway")
    assert installed_here.exists()
    unit = tmp_path / "gateway.service"
    unit.write_text(text.replace(f"ExecStart={INSTALLED_GATEWAY} ", f"ExecStart={installed_here} "))
    return unit


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([systemd_analyze(), "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)


def test_systemd_verify_accepts_the_unit(tmp_path: Path) -> None:
    result = verify(local_copy(tmp_path, UNIT.read_text()))
    # verify only warns about unknown keys or bad values: any output is a finding.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_verify_catches_a_misspelt_key(tmp_path: Path) -> None:
    """The check above can fail."""
    broken = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSistem=strict")
    result = verify(local_copy(tmp_path, broken))
    assert "ProtectSistem" in result.stderr


def test_systemd_security_rates_the_unit_locked_down(tmp_path: Path) -> None:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", f"--threshold={MAX_EXPOSURE}",
         "--no-pager", str(local_copy(tmp_path, UNIT.read_text()))],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_unit_hardening_and_shutdown() -> None:
    unit = unit_settings()
    for key, value in [("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                       ("PrivateTmp", "yes"), ("ProtectHome", "yes"), ("KillSignal", "SIGTERM"),
                       ("StateDirectory", "gateway"), ("User", "gateway")]:
        assert unit[key] == [value], key
    assert set(unit["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    stop = re.fullmatch(r"(\d+)s", unit["TimeoutStopSec"][0])
    assert stop and int(stop[1]) > shutdown_grace_seconds()
    # The data dir is the state directory, and the only place it may write.
    assert unit["Environment"] == ["GATEWAY_DATA_DIR=/var/lib/gateway"]
    assert unit["ReadWritePaths"] == ["/var/lib/gateway"]
    assert unit["EnvironmentFile"] == ["/etc/gateway/gateway.env"]
    sysusers = (DEPLOY / "systemd" / "gateway.sysusers").read_text()
    assert re.search(r"^u gateway - .* /var/lib/gateway$", sysusers, re.M)


def test_environment_file_example_holds_known_settings() -> None:
    lines = (DEPLOY / "systemd" / "gateway.env").read_text().splitlines()
    # Every example line, commented out or not, must be a valid setting once enabled.
    pairs = [line.lstrip("#").partition("=") for line in lines if re.match(r"#?GATEWAY_", line)]
    settings = assert_known_settings({key: value for key, _, value in pairs})
    assert settings.host == "127.0.0.1"
