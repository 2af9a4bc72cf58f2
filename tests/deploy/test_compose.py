"""deploy/compose.yaml: valid for Debian's docker-compose, pinned, and wired as documented."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.files import (DEPLOY, assert_known_settings, require_tool,
                                shutdown_grace_seconds, yaml_documents)
from tests.deploy.nginx import SITE, UPSTREAMS

COMPOSE = DEPLOY / "compose.yaml"
GATEWAYS = ("gateway-1", "gateway-2")
# Each image pinned to a release, never a moving tag.
PINNED = {
    "postgres": r"postgres:16\.\d+(-\w+)?",
    "minio": r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ",
    "minio-setup": r"minio/mc:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ",
    "nginx": r"nginx:1\.\d+\.\d+(-\w+)?",
    "prometheus": r"prom/prometheus:v[23]\.\d+\.\d+",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as docker-compose resolves it (anchors merged, defaults filled)."""
    result = subprocess.run([require_tool("docker-compose"), "-f", str(COMPOSE), "config"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return yaml.safe_load(result.stdout)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of a service's volumes (docker-compose prints `source:target[:mode]`)."""
    pairs = [volume.split(":")[:2] for volume in service.get("volumes", [])]
    return {target: source for source, target in pairs}


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, pattern in PINNED.items():
        assert re.fullmatch(pattern, services[name]["image"]), services[name]["image"]
    for name in ("migrate", *GATEWAYS):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_two_replicas_share_one_database_and_bucket(compose: dict[str, Any]) -> None:
    services = compose["services"]
    environments = [services[name]["environment"] for name in GATEWAYS]
    assert environments[0] == environments[1]
    settings = assert_known_settings(environments[0])
    assert settings.database_url and settings.database_url.startswith("postgresql://")
    assert settings.s3 is not None and settings.s3.bucket == "packages"
    assert not settings.migrate_on_start  # the one-shot `migrate` service does it
    for name in GATEWAYS:
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["minio-setup"]["condition"] == "service_completed_successfully"
        grace = re.fullmatch(r"(\d+)s", services[name]["stop_grace_period"])
        assert grace and int(grace[1]) > shutdown_grace_seconds()
    assert services["migrate"]["command"] == ["gateway", "migrate"]


def test_nginx_fronts_both_replicas(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    assert mounts(nginx) == {"/etc/nginx/conf.d/default.conf": str(SITE)}
    # Started once the image's HEALTHCHECK passes on both replicas.
    assert nginx["depends_on"] == {name: {"condition": "service_healthy"} for name in GATEWAYS}
    assert UPSTREAMS == tuple(f"{name}:8080" for name in GATEWAYS)
    assert nginx["ports"] == ["127.0.0.1:8080:8080/tcp"]


def test_prometheus_scrapes_each_replica(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    scrape = yaml_documents(DEPLOY / "prometheus" / "prometheus.yml")[0]["scrape_configs"]
    gateway_job = next(job for job in scrape if job["job_name"] == "gateway")
    assert mounts(prometheus)["/etc/prometheus/prometheus.yml"] == str(
        DEPLOY / "prometheus" / "prometheus.yml")
    assert gateway_job["metrics_path"] == "/metrics"
    assert gateway_job["static_configs"][0]["targets"] == [f"{name}:8080" for name in GATEWAYS]


def test_minio_gets_a_versioned_bucket_and_sweeps_stale_uploads(compose: dict[str, Any]) -> None:
    minio = compose["services"]["minio"]
    # MinIO drops AbortIncompleteMultipartUpload from lifecycle rules; these are its form.
    assert minio["environment"]["MINIO_API_STALE_UPLOADS_EXPIRY"] == "24h"
    assert minio["environment"]["MINIO_API_STALE_UPLOADS_CLEANUP_INTERVAL"] == "6h"
    script = "\n".join(compose["services"]["minio-setup"]["command"])
    syntax = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
    assert "mc mb --ignore-existing local/packages" in script
    assert "mc version enable local/packages" in script
    assert "--noncurrent-expire-days" in script


def test_compose_check_catches_a_broken_file(tmp_path: Any) -> None:
    """The check above can fail: the same file with a service key misspelt."""
    broken = COMPOSE.read_text().replace("    depends_on:\n      minio:", "    depend_on:\n      minio:")
    assert broken != COMPOSE.read_text()
    (tmp_path / "compose.yaml").write_text(broken)
    result = subprocess.run([require_tool("docker-compose"), "-f", str(tmp_path / "compose.yaml"),
                             "config", "-q"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "depend_on" in result.stderr
