"""The generated Kubernetes manifests: valid against Kubernetes' own schemas
(offline), unified service tagging consistent, and the runtime profiling
switch mounted so that ConfigMap edits reach the pod."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import DEFAULT_SLUG, run, tool

MANIFESTS = ("deployment.yaml", "service.yaml", "configmap-profiling.yaml")


def load(project: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((project / "deploy" / "k8s" / name).read_text())
    return document


@pytest.fixture(scope="module")
def deployment(default_project: Path) -> dict[str, Any]:
    return load(default_project, "deployment.yaml")


@pytest.fixture(scope="module")
def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_manifests_validate_against_the_kubernetes_schemas(default_project: Path) -> None:
    run([tool("kubernetes-validate"), "--strict", *MANIFESTS], cwd=default_project / "deploy" / "k8s")


def test_kustomization_lists_every_manifest(default_project: Path) -> None:
    kustomization = load(default_project, "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)


def test_version_label_image_tag_and_env_agree(
    default_project: Path, deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    version = tomllib.loads((default_project / "pyproject.toml").read_text())["project"]["version"]
    kustomization = load(default_project, "kustomization.yaml")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    found = {
        "deployment label": deployment["metadata"]["labels"]["tags.datadoghq.com/version"],
        "pod label": pod_labels["tags.datadoghq.com/version"],
        "image tag": container["image"].rsplit(":", 1)[1],
        "kustomize image tag": kustomization["images"][0]["newTag"],
        "kustomize label": kustomization["labels"][0]["pairs"]["tags.datadoghq.com/version"],
    }
    assert set(found.values()) == {version}, found
    assert kustomization["images"][0]["name"] == container["image"].rsplit(":", 1)[0]
    assert kustomization["labels"][0]["includeSelectors"] is False
    assert deployment["metadata"]["labels"]["tags.datadoghq.com/env"] == pod_labels["tags.datadoghq.com/env"]
    assert pod_labels["tags.datadoghq.com/service"] == DEFAULT_SLUG
    assert "tags.datadoghq.com/version" not in deployment["spec"]["selector"]["matchLabels"]


def test_datadog_settings_come_from_labels_and_the_node(container: dict[str, Any]) -> None:
    sources = {
        item["name"]: item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for item in container["env"]
    }
    assert sources["DD_ENV"] == "metadata.labels['tags.datadoghq.com/env']"
    assert sources["DD_SERVICE"] == "metadata.labels['tags.datadoghq.com/service']"
    assert sources["DD_VERSION"] == "metadata.labels['tags.datadoghq.com/version']"
    assert sources["DD_AGENT_HOST"] == "status.hostIP"


def test_metrics_go_to_the_node_agent(container: dict[str, Any]) -> None:
    names = [item["name"] for item in container["env"]]
    values = {item["name"]: item.get("value") for item in container["env"]}
    assert values["DD_DOGSTATSD_URL"] == "udp://$(DD_AGENT_HOST):8125"
    assert values["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == "http://$(DD_AGENT_HOST):4318/v1/metrics"
    # Kubernetes expands $(NAME) only from variables defined earlier in the list.
    for name in ("DD_DOGSTATSD_URL", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        assert names.index("DD_AGENT_HOST") < names.index(name)


def test_probes_resources_and_a_restrictive_security_context(
    deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    # The drain (20 s by default) and the final profile upload (10 s) must fit.
    assert pod["terminationGracePeriodSeconds"] >= 20 + 10


def test_profiling_control_configmap_is_mounted_as_a_directory(
    default_project: Path, deployment: dict[str, Any], container: dict[str, Any]
) -> None:
    configmap = load(default_project, "configmap-profiling.yaml")
    assert json.loads(configmap["data"]["profiling.json"]) == {}
    control_path = next(item["value"] for item in container["env"] if item["name"] == "PROFILING_CONTROL_FILE")
    mount = next(m for m in container["volumeMounts"] if m["name"] == "profiling-control")
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    assert control_path == f"{mount['mountPath']}/profiling.json"
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "profiling-control")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
