"""deploy/kubernetes/: valid against the Kubernetes schemas (strict: no unknown
fields), and the pods are locked down and probed as deploy/README.md says."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from kubernetes_validate import utils as kubernetes_validate

from tests.deploy.files import (DEPLOY, assert_known_settings, dockerfile_user_id,
                                shutdown_grace_seconds, yaml_documents)

MANIFESTS = DEPLOY / "kubernetes"
KUSTOMIZATION = MANIFESTS / "kustomization.yaml"
# The oldest Kubernetes still commonly run, and the newest the schemas know.
VERSIONS = ["1.29.0", kubernetes_validate.latest_version() + ".0"]


def manifest_files() -> list[Path]:
    return sorted(path for path in MANIFESTS.glob("*.yaml") if path != KUSTOMIZATION)


def resources() -> dict[str, dict[str, Any]]:
    """Every resource, by kind/name."""
    found = {}
    for path in manifest_files():
        for doc in yaml_documents(path):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: path.name)
def test_manifest_matches_the_schema(path: Path, version: str) -> None:
    for doc in yaml_documents(path):
        assert kubernetes_validate.validate(doc, version, strict=True)


def test_schema_check_catches_an_unknown_field() -> None:
    """The check above can fail: a misspelt field is refused in strict mode."""
    deployment = copy.deepcopy(resources()["Deployment/gateway"])
    pod = deployment["spec"]["template"]["spec"]
    pod["enableServiceLink"] = pod.pop("enableServiceLinks")
    with pytest.raises(kubernetes_validate.ValidationError, match="enableServiceLink"):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml_documents(KUSTOMIZATION)[0]["resources"]
    assert sorted(listed) == [path.name for path in manifest_files()]


def pod_specs() -> dict[str, dict[str, Any]]:
    found = resources()
    return {
        "serve": found["Deployment/gateway"]["spec"]["template"]["spec"],
        "migrate": found["Job/gateway-migrate"]["spec"]["template"]["spec"],
        "gc": found["CronJob/gateway-gc"]["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    }


@pytest.mark.parametrize("command", ["serve", "migrate", "gc"])
def test_pods_run_locked_down_with_the_shared_settings(command: str) -> None:
    pod = pod_specs()[command]
    # A Service named `gateway` would inject GATEWAY_PORT=tcp://..., an invalid setting.
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == dockerfile_user_id()
    [container] = pod["containers"]
    # `args`, not `command`: the image's entrypoint (tini) stays PID 1.
    assert "command" not in container
    assert container["args"] == ["gateway", command]
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    assert {ref.get("configMapRef", ref.get("secretRef"))["name"]
            for ref in container["envFrom"]} == {"gateway-config", "gateway-secrets"}


def test_settings_are_known_to_the_gateway() -> None:
    found = resources()
    settings = assert_known_settings({**found["ConfigMap/gateway-config"]["data"],
                                      **found["Secret/gateway-secrets"]["stringData"]})
    assert settings.host == "0.0.0.0"
    assert settings.s3 is not None and settings.database_url
    assert not settings.migrate_on_start  # the migration Job does it


def test_deployment_probes_and_shutdown() -> None:
    found = resources()
    deployment = found["Deployment/gateway"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/readiness"
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/liveness"
    port = int(found["ConfigMap/gateway-config"]["data"]["GATEWAY_PORT"])
    assert container["ports"][0]["containerPort"] == port
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] > pause + shutdown_grace_seconds()
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert found["Service/gateway"]["spec"]["selector"] == labels
    budget = found["PodDisruptionBudget/gateway"]["spec"]
    assert budget["selector"]["matchLabels"] == labels
    assert budget["minAvailable"] < deployment["spec"]["replicas"]


def test_gc_runs_one_at_a_time() -> None:
    cronjob = resources()["CronJob/gateway-gc"]["spec"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
