"""Rendering and validating the Helm chart offline.

The helm CLI is built from the Go module proxy by ``scripts/install_helm.sh`` (cached in
``~/.cache/tradestream/bin``). Dagster's chart, a dependency of ours, cannot be downloaded
here, so a test copy of the chart gets an offline stand-in in ``charts/dagster``: Dagster's
published ``values.yaml`` and ``values.schema.json`` (from ../shared/reference/dagster-chart)
without templates. Helm then merges and schema-checks the ``dagster:`` values exactly as it
would with the real chart, while only our own templates produce manifests.

Dagster's schema points its Kubernetes types at schemas on GitHub; offline, those
references are resolved against the Kubernetes schemas that ``kubernetes-validate``
bundles, so a Probe is checked as a Probe rather than waved through.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "helm"
INSTALL_HELM = REPO_ROOT / "scripts" / "install_helm.sh"
# The Kubernetes version the chart promises (Chart.yaml kubeVersion) and the newest one
# kubernetes-validate knows: manifests must be valid for both.
KUBE_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
DAGSTER_CHART_VERSION = "1.13.27"
RELEASE = "tradestream"
NAMESPACE = "tradestream-namespace"


def dagster_reference_dir() -> Path:
    path = Path(os.environ.get("TRADESTREAM_DAGSTER_CHART_REFERENCE",
                               REPO_ROOT.parent / "shared" / "reference" / "dagster-chart"))
    if not (path / "values.schema.json").is_file():
        raise FileNotFoundError(
            f"Dagster's chart reference data is not at {path} (values.yaml, values.schema.json, "
            "charts/dagster-user-deployments/); point TRADESTREAM_DAGSTER_CHART_REFERENCE at it")
    return path


def helm_binary() -> str:
    """The cached helm CLI, built on first use (quiet and instant once cached)."""
    proc = subprocess.run([str(INSTALL_HELM)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{INSTALL_HELM} failed:\n{proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


# ------------------------------------------------------------------ Dagster's schema, offline


@cache
def _kubernetes_definitions(kube_version: str = "1.30.0") -> dict[str, Any]:
    """Kubernetes type definitions bundled with kubernetes-validate (non-strict, like Dagster's refs)."""
    major_minor = ".".join(kube_version.split(".")[:2])
    path = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{major_minor}.0-local"
            / "_definitions.json")
    return json.loads(path.read_text())["$defs"]


def _redirect_kubernetes_refs(node: Any) -> None:
    """Point `https://.../_definitions.json#/definitions/X` at the local `#/$defs/X`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("http"):
            _, sep, pointer = ref.partition("#/definitions/")
            if not sep:
                raise ValueError(f"unexpected external $ref {ref!r} in Dagster's schema")
            node["$ref"] = "#/$defs/" + pointer
        for value in node.values():
            _redirect_kubernetes_refs(value)
    elif isinstance(node, list):
        for value in node:
            _redirect_kubernetes_refs(value)


def offline_schema(schema_path: Path) -> dict[str, Any]:
    """A Dagster values schema whose Kubernetes references resolve without a network."""
    schema = json.loads(schema_path.read_text())
    _redirect_kubernetes_refs(schema)
    schema.setdefault("$defs", {})
    for name, definition in _kubernetes_definitions().items():
        schema["$defs"].setdefault(name, definition)
    return schema


def dagster_schema() -> dict[str, Any]:
    return offline_schema(dagster_reference_dir() / "values.schema.json")


def user_deployments_schema() -> dict[str, Any]:
    return offline_schema(dagster_reference_dir() / "charts" / "dagster-user-deployments" / "values.schema.json")


def coalesce(defaults: Any, overrides: Any) -> Any:
    """Helm's merge of a chart's defaults with user values: maps merge, a null deletes, the rest replaces."""
    if isinstance(defaults, dict) and isinstance(overrides, dict):
        merged = copy.deepcopy(defaults)
        for key, value in overrides.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = coalesce(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    return copy.deepcopy(overrides)


def chart_values() -> dict[str, Any]:
    return yaml.safe_load((CHART_DIR / "values.yaml").read_text())


def dagster_values(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The values Dagster's chart receives: its defaults merged with our `dagster:` block."""
    ours = (values or chart_values())["dagster"]
    defaults = yaml.safe_load((dagster_reference_dir() / "values.yaml").read_text())
    return coalesce(defaults, ours)


# ------------------------------------------------------------------ the chart under test


def _write_dagster_stand_in(charts_dir: Path) -> None:
    reference = dagster_reference_dir()
    dagster = charts_dir / "dagster"
    user_deployments = dagster / "charts" / "dagster-user-deployments"
    user_deployments.mkdir(parents=True)
    (dagster / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "dagster", "version": DAGSTER_CHART_VERSION,
        "description": "Offline stand-in: Dagster's published values and schema, no templates.",
        "dependencies": [{"name": "dagster-user-deployments", "version": DAGSTER_CHART_VERSION,
                          "condition": "dagster-user-deployments.enableSubchart"}],
    }))
    shutil.copy(reference / "values.yaml", dagster / "values.yaml")
    (dagster / "values.schema.json").write_text(json.dumps(dagster_schema()))
    (user_deployments / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "dagster-user-deployments", "version": DAGSTER_CHART_VERSION}))
    shutil.copy(reference / "charts" / "dagster-user-deployments" / "values.yaml", user_deployments / "values.yaml")
    (user_deployments / "values.schema.json").write_text(json.dumps(user_deployments_schema()))


def prepare_chart(workdir: Path) -> Path:
    """A copy of helm/ with the Dagster stand-in in charts/ (a real install uses `helm dependency update`)."""
    target = workdir / "tradestream"
    shutil.copytree(CHART_DIR, target, ignore=shutil.ignore_patterns("charts"))
    (target / "charts").mkdir()
    _write_dagster_stand_in(target / "charts")
    return target


class RenderError(RuntimeError):
    """helm refused the values; the message carries helm's own error."""


@dataclass
class Helm:
    binary: str
    chart: Path

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], capture_output=True, text=True, check=False,
                              env={**os.environ, "HELM_CACHE_HOME": str(self.chart.parent / ".helm-cache"),
                                   "HELM_CONFIG_HOME": str(self.chart.parent / ".helm-config"),
                                   "HELM_DATA_HOME": str(self.chart.parent / ".helm-data")})

    def _value_args(self, values: dict[str, Any] | None, sets: list[str] | None,
                    set_strings: list[str] | None) -> list[str]:
        args: list[str] = []
        if values:
            path = self.chart.parent / f"values-{abs(hash(json.dumps(values, sort_keys=True)))}.yaml"
            path.write_text(yaml.safe_dump(values))
            args += ["-f", str(path)]
        for item in sets or []:
            args += ["--set", item]
        for item in set_strings or []:
            args += ["--set-string", item]
        return args

    def template(self, values: dict[str, Any] | None = None, sets: list[str] | None = None,
                 set_strings: list[str] | None = None, kube_version: str = KUBE_VERSIONS[0],
                 extra: list[str] | None = None) -> list[dict[str, Any]]:
        """Render the chart; the manifests as dicts, or RenderError with helm's message."""
        proc = self._run(["template", RELEASE, str(self.chart), "--namespace", NAMESPACE,
                          "--kube-version", kube_version, *self._value_args(values, sets, set_strings),
                          *(extra or [])])
        if proc.returncode != 0:
            raise RenderError(proc.stderr.strip())
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]

    def lint(self, values: dict[str, Any] | None = None, sets: list[str] | None = None) -> subprocess.CompletedProcess:
        return self._run(["lint", str(self.chart), "--strict", "--namespace", NAMESPACE,
                          "--kube-version", KUBE_VERSIONS[0], *self._value_args(values, sets, None)])


# ------------------------------------------------------------------ looking into manifests


def find(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in manifests:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    present = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in manifests)
    raise KeyError(f"no {kind}/{name} among the rendered manifests: {present}")


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests if doc["kind"] == kind]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def workloads(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in manifests if d["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")]


def embedded_manifest(config_map: dict[str, Any], key: str) -> dict[str, Any]:
    return yaml.safe_load(config_map["data"][key])
