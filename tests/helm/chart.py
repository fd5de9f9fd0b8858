"""Rendering and validating the Helm chart offline.

The helm CLI is built from the Go module proxy by ``scripts/install_helm.sh`` (cached in
``~/.cache/tradestream/bin``). Dagster's chart, a dependency of ours, comes the way a user
gets it, or from a setting on a machine that cannot download it (``locate_dagster_chart``):

1. ``TRADESTREAM_DAGSTER_CHART``, when set: a local copy of Dagster's chart. A full chart
   (with ``templates/``, e.g. ``helm pull dagster/dagster --untar``) is used as is; a copy of
   its values and schema only (``values.yaml``, ``values.schema.json``,
   ``charts/dagster-user-deployments/``, like tests/helm/dagster-chart) becomes a
   stand-in without templates: Helm then merges and schema-checks the ``dagster:`` values
   exactly as with the real chart, while only our own templates produce manifests.
2. Otherwise the archive ``helm dependency build helm`` puts in ``helm/charts/``: Dagster's
   real chart, whose manifests are rendered too.
3. Otherwise the copy of Dagster's values and schema kept in this repository
   (``tests/helm/dagster-chart/``, byte for byte as published, SOURCE.md names the commits),
   so a clone with no network to Dagster's chart repository still checks every value.

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
import tarfile
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
RELEASE = "tradestream"
NAMESPACE = "tradestream-namespace"
DAGSTER_CHART_SETTING = "TRADESTREAM_DAGSTER_CHART"
VENDORED_DAGSTER_CHART = Path(__file__).resolve().parent / "dagster-chart"
USER_DEPLOYMENTS = "dagster-user-deployments"


class DagsterChartMissing(RuntimeError):
    """TRADESTREAM_DAGSTER_CHART names a folder that is not a copy of Dagster's chart."""


def dagster_dependency() -> dict[str, Any]:
    """The `dagster` entry of helm/Chart.yaml's dependencies (name, version, repository)."""
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    (dependency,) = [d for d in chart["dependencies"] if d["name"] == "dagster"]
    return dependency


def locate_dagster_chart() -> Path:
    """Dagster's chart: the setting if set, else the archive of `helm dependency build helm`, else the
    repository's copy of its values and schema."""
    setting = os.environ.get(DAGSTER_CHART_SETTING)
    if setting:
        path = Path(setting).expanduser().resolve()
        missing = [name for name in ("values.yaml", "values.schema.json") if not (path / name).is_file()]
        if missing:
            raise DagsterChartMissing(f"{DAGSTER_CHART_SETTING}={setting} is not a copy of Dagster's chart "
                                      f"(no {' or '.join(missing)} in {path})")
        return path
    dependency = dagster_dependency()
    archive = CHART_DIR / "charts" / f"dagster-{dependency['version']}.tgz"
    if archive.is_file():
        return archive
    return VENDORED_DAGSTER_CHART


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


@dataclass(frozen=True)
class DagsterChart:
    """Dagster's chart as it sits in the prepared copy of ours (charts/dagster), schemas made offline."""

    root: Path

    def _read(self, *parts: str) -> Any:
        path = self.root.joinpath(*parts)
        return json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())

    def defaults(self) -> dict[str, Any]:
        return self._read("values.yaml")

    def schema(self) -> dict[str, Any]:
        return self._read("values.schema.json")

    def user_deployments_defaults(self) -> dict[str, Any]:
        return self._read("charts", USER_DEPLOYMENTS, "values.yaml")

    def user_deployments_schema(self) -> dict[str, Any]:
        return self._read("charts", USER_DEPLOYMENTS, "values.schema.json")

    def values(self, values: dict[str, Any] | None = None) -> dict[str, Any]:
        """The values Dagster's chart receives: its defaults merged with our `dagster:` block."""
        return coalesce(self.defaults(), (values or chart_values())["dagster"])


# ------------------------------------------------------------------ the chart under test


def _write_dagster_stand_in(source: Path, dagster: Path) -> None:
    """Dagster's values and schemas without templates, under the version our Chart.yaml asks for."""
    version = dagster_dependency()["version"]
    user_deployments = dagster / "charts" / USER_DEPLOYMENTS
    user_deployments.mkdir(parents=True)
    (dagster / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": "dagster", "version": version,
        "description": "Offline stand-in: Dagster's published values and schema, no templates.",
        "dependencies": [{"name": USER_DEPLOYMENTS, "version": version,
                          "condition": f"{USER_DEPLOYMENTS}.enableSubchart"}],
    }))
    (user_deployments / "Chart.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v2", "name": USER_DEPLOYMENTS, "version": version}))
    for folder in (Path("."), Path("charts") / USER_DEPLOYMENTS):
        for name in ("values.yaml", "values.schema.json"):
            shutil.copy(source / folder / name, dagster / folder / name)


def _unpack_subcharts(chart: Path) -> None:
    """Subcharts packaged as archives in charts/ unpacked in place, so their files can be read."""
    for archive in sorted((chart / "charts").glob("*.tgz")):
        with tarfile.open(archive) as tar:
            tar.extractall(archive.parent, filter="data")
        archive.unlink()


def prepare_chart(workdir: Path, dagster_source: Path) -> Path:
    """A copy of helm/ with Dagster's chart (from ``locate_dagster_chart``) in charts/dagster."""
    target = workdir / "tradestream"
    shutil.copytree(CHART_DIR, target, ignore=shutil.ignore_patterns("charts"))
    charts = target / "charts"
    charts.mkdir()
    dagster = charts / "dagster"
    if dagster_source.is_file():  # the archive of `helm dependency build`
        with tarfile.open(dagster_source) as tar:
            tar.extractall(charts, filter="data")
    elif (dagster_source / "templates").is_dir():
        shutil.copytree(dagster_source, dagster)
    else:
        _write_dagster_stand_in(dagster_source, dagster)
    _unpack_subcharts(dagster)
    for schema in dagster.rglob("values.schema.json"):
        schema.write_text(json.dumps(offline_schema(schema)))
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


@cache
def _chart_name() -> str:
    return yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["name"]


def ours(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What our own templates render; Dagster's real chart adds its own (labelled helm.sh/chart: dagster-...)."""
    return [d for d in manifests
            if (d["metadata"].get("labels") or {}).get("helm.sh/chart", "").startswith(f"{_chart_name()}-")]


def workloads(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our workloads (Dagster's are configured through its values, checked in test_dagster_values.py)."""
    return [d for d in ours(manifests) if d["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")]


def embedded_manifest(config_map: dict[str, Any], key: str) -> dict[str, Any]:
    return yaml.safe_load(config_map["data"][key])
