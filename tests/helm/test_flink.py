"""Flink session cluster with Beam worker-pool sidecars; pipeline.version and pipeline.runMode."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.helm.chart import NAMESPACE, RenderError, chart_values, find, of_kind, pod_spec
from tradestream.runtime import jars
from tradestream.settings import Settings

JOBMANAGER = f"tradestream-flink-jobmanager.{NAMESPACE}.svc.cluster.local:8081"


def containers_by_name(workload):
    return {c["name"]: c for c in pod_spec(workload)["containers"]}


@pytest.mark.parametrize("version, image", [
    ("1.17", "flink:1.17.2-java11"),  # Flink 1.17 has no Java 17 image
    ("1.18", "flink:1.18.1-java17"),
    ("1.19", "flink:1.19.3-java17"),
])
def test_pipeline_version_selects_the_flink_image_and_the_beam_runner(render, version, image):
    manifests = render(sets=[f"pipeline.version={version}"])

    for name in ("tradestream-flink-jobmanager", "tradestream-flink-taskmanager"):
        assert pod_spec(find(manifests, "Deployment", name))["containers"][0]["image"] == image
    assert find(manifests, "ConfigMap", "tradestream-env")["data"]["TRADESTREAM_FLINK_FLINK_VERSION"] == version


def test_a_version_from_a_values_file_may_be_a_number(render):
    manifests = render(values={"pipeline": {"version": 1.18}})
    assert find(manifests, "ConfigMap", "tradestream-env")["data"]["TRADESTREAM_FLINK_FLINK_VERSION"] == "1.18"


def test_an_unsupported_flink_version_is_refused_by_the_values_schema(render):
    with pytest.raises(RenderError, match=r"/pipeline/version"):
        render(sets=["pipeline.version=1.20"])


def test_an_unsupported_flink_version_fails_naming_it_even_without_the_schema(helm):
    with pytest.raises(RenderError, match=r'pipeline.version "1.20" is not a Flink version the Beam 2.62 Flink '
                                          r"runner supports; set pipeline.version to one of 1.17, 1.18, 1.19"):
        helm.template(sets=["pipeline.version=1.20"], extra=["--skip-schema-validation"])


def test_default_flink_version_matches_the_local_runtime():
    assert chart_values()["pipeline"]["version"] == Settings.load().flink.flink_version


def test_taskmanagers_carry_a_beam_worker_pool_sidecar_for_the_external_environment(default_manifests):
    taskmanager = containers_by_name(find(default_manifests, "Deployment", "tradestream-flink-taskmanager"))
    templates = find(default_manifests, "ConfigMap", "tradestream-stream-templates")
    backend = yaml.safe_load(templates["data"]["backend.yaml"])
    image = chart_values()["image"]

    sidecar = taskmanager["beam-worker-pool"]
    assert sidecar["image"] == f"{image['repository']}:{image['tag']}"
    assert sidecar["args"] == ["python", "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port=50000"]
    assert sidecar["ports"][0]["containerPort"] == 50000
    assert backend["workerPool"] == "localhost:50000"  # the TaskManager reaches its own sidecar
    assert backend["flinkMaster"] == JOBMANAGER
    assert find(default_manifests, "ConfigMap", "tradestream-env")["data"]["TRADESTREAM_FLINK_MASTER"] == JOBMANAGER


def test_pipeline_dry_runs_without_a_flink_cluster_on_beams_embedded_flink(render):
    manifests = render(sets=["pipeline.runMode=dry"])
    names = {d["metadata"]["name"] for d in of_kind(manifests, "Deployment")}
    backend = yaml.safe_load(find(manifests, "ConfigMap", "tradestream-stream-templates")["data"]["backend.yaml"])

    assert not any("flink" in name for name in names)
    assert find(manifests, "ConfigMap", "tradestream-env")["data"]["TRADESTREAM_FLINK_MASTER"] == "[local]"
    assert backend["workerPool"] == "" and backend["flinkRestUrl"] == ""


def test_flink_memory_settings_equal_the_container_memory(default_manifests):
    conf = yaml.safe_load(find(default_manifests, "ConfigMap", "tradestream-flink-config")["data"]["flink-conf.yaml"])
    jobmanager = find(default_manifests, "Deployment", "tradestream-flink-jobmanager")
    taskmanager = containers_by_name(find(default_manifests, "Deployment", "tradestream-flink-taskmanager"))

    jm_limits = pod_spec(jobmanager)["containers"][0]["resources"]["limits"]
    assert conf["jobmanager.memory.process.size"] == jm_limits["memory"].replace("Mi", "m")
    assert conf["taskmanager.memory.process.size"] == \
        taskmanager["taskmanager"]["resources"]["limits"]["memory"].replace("Mi", "m")
    assert conf["taskmanager.numberOfTaskSlots"] == 4


@pytest.fixture(scope="module")
def flink_home():
    """The Flink distribution of the local runtime (same version as the chart's default image)."""
    settings = Settings.load()
    try:
        return jars.flink_home(settings)
    except jars.RuntimeSetupError:
        jars.provision_flink(settings)
        return jars.flink_home(settings)


@pytest.mark.parametrize("process", ["JM", "TM"])
def test_flink_accepts_the_charts_configuration(render, tmp_path, flink_home, process):
    """Flink's own config loader and memory calculator (what jobmanager.sh/taskmanager.sh run first)."""
    conf = find(render(), "ConfigMap", "tradestream-flink-config")["data"]
    for name, text in conf.items():
        (tmp_path / name).write_text(text)
    classpath = f"{flink_home}/bin/bash-java-utils.jar:{flink_home}/lib/*"
    proc = subprocess.run([jars.java_binary(), "-cp", classpath, "org.apache.flink.runtime.util.bash.BashJavaUtils",
                           f"GET_{process}_RESOURCE_PARAMS", "--configDir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)

    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = [line for line in proc.stdout.splitlines() if line.startswith("BASH_JAVA_UTILS_EXEC_RESULT:")]
    assert len(results) == 2 and "-Xmx" in results[0]
    if process == "TM":
        assert "taskmanager.numberOfTaskSlots=4" in results[1]
