"""A generated service's settings class is the one list of its environment
variables: the README's settings table documents each of them, and the
Kubernetes manifest sets only variables the service reads (a misspelt name
there would be ignored without a word). That the service's own tests isolate
exactly this list is proven in test_generated_project.py, whose run sets every
one of them to a hostile value in the calling shell."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .settings_class import settings_variables

# Families that ddtrace and OpenTelemetry read for themselves (documented in
# the README with the settings they complement).
LIBRARY_PREFIXES = ("DD_", "OTEL_")
TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|")


def readme_settings_table(project: Path) -> set[str]:
    text = (project / "README.md").read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return {match.group(1) for line in section.splitlines() if (match := TABLE_ROW.match(line))}


def manifest_variables(project: Path) -> set[str]:
    deployment = yaml.safe_load((project / "deploy" / "k8s" / "deployment.yaml").read_text())
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return {variable["name"] for container in containers for variable in container.get("env", [])}


def test_the_settings_class_is_found_and_has_the_variables_the_service_is_known_for(default_project: Path) -> None:
    assert {"DD_SERVICE", "DD_ENV", "PORT", "PROFILING_CONTROL_FILE", "LOG_FORMAT"} <= settings_variables(
        default_project
    )


def test_the_readme_documents_every_setting(default_project: Path) -> None:
    undocumented = settings_variables(default_project) - readme_settings_table(default_project)
    assert not undocumented, f"settings missing from the README's settings table: {sorted(undocumented)}"


def test_the_readme_documents_no_variable_the_service_does_not_read(default_project: Path) -> None:
    documented = readme_settings_table(default_project)
    unknown = {
        name for name in documented - settings_variables(default_project) if not name.startswith(LIBRARY_PREFIXES)
    }
    assert not unknown, f"the README's settings table names variables nothing reads: {sorted(unknown)}"


def test_the_kubernetes_manifest_sets_only_what_the_service_reads(default_project: Path) -> None:
    read = settings_variables(default_project)
    unknown = {name for name in manifest_variables(default_project) - read if not name.startswith(LIBRARY_PREFIXES)}
    assert not unknown, f"deployment.yaml sets variables the service does not read: {sorted(unknown)}"
    # ddtrace-family names in the manifest are real settings too, or ddtrace's version tag.
    library = {name for name in manifest_variables(default_project) - read}
    assert library <= {"DD_VERSION"}, f"deployment.yaml sets library variables the settings class lacks: {library}"
