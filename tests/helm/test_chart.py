"""The chart renders with default values and with the seed's parameters varied, `helm lint`
is clean, and every manifest validates strictly against the Kubernetes schemas."""

from __future__ import annotations

import copy

import jsonschema
import kubernetes_validate
import pytest

from tests.helm.chart import KUBE_VERSIONS, RenderError, chart_values, find

# The seed's parameters (kafka.replicaCount, dataIngestion.runMode, pipeline.runMode,
# pipeline.version) and the options that switch whole parts on or off.
VARIATIONS = {
    "defaults": [],
    "five-brokers": ["kafka.replicaCount=5"],
    "one-broker": ["kafka.replicaCount=1", "kafka.replicationFactor=1", "kafka.minInsyncReplicas=1"],
    "ingestion-dry": ["dataIngestion.runMode=dry"],
    "pipeline-dry": ["pipeline.runMode=dry"],
    "flink-1.17": ["pipeline.version=1.17"],
    "flink-1.18": ["pipeline.version=1.18"],
    "plaintext": ["kafka.security.protocol=PLAINTEXT"],
    "external-kafka": ["kafka.enabled=false", "kafka.externalBootstrapServers=kafka.example.com:9092"],
    "without-dagster": ["dagster.enabled=false"],
    "s3-state": ["pipeline.state.storage=s3", "pipeline.state.s3.uri=s3://bucket/tradestream",
                 "pipeline.state.s3.endpoint=http://minio:9000", "pipeline.state.s3.credentialsSecret=flink-s3"],
    "standby-jobmanager": ["pipeline.flink.jobManager.replicas=2"],
    "without-flink-ha": ["pipeline.flink.highAvailability.enabled=false"],
    "monitored": ["monitoring.podMonitor.enabled=true", "monitoring.prometheusRule.enabled=true"],
    "exposed": ["exposure.dagster.enabled=true", "exposure.dagster.host=dagster.example.com",
                "exposure.kafkaUi.enabled=true", "exposure.kafkaUi.host=kafka.example.com",
                "exposure.tlsSecret=ui-tls", "exposure.authProxy.oidcIssuerUrl=https://accounts.example.com",
                "exposure.authProxy.clientSecret=ui-oidc"],
}


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("variation", VARIATIONS)
def test_every_manifest_validates_strictly_against_kubernetes(render, variation, kube_version):
    manifests = render(sets=VARIATIONS[variation], kube_version=kube_version)

    assert manifests, "nothing rendered"
    for manifest in manifests:
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # Prometheus Operator CRDs: not Kubernetes' schemas (tests/helm/test_monitoring.py)
        try:
            kubernetes_validate.validate(manifest, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            name = f"{manifest['kind']}/{manifest['metadata']['name']}"
            pytest.fail(f"{name} is not valid Kubernetes {kube_version} ({variation}): {exc.message} at "
                        f"{'/'.join(map(str, exc.path))}")


def test_strict_validation_catches_a_misspelt_field(default_manifests):
    """Guards the test above: the validator really rejects what a cluster would reject."""
    deployment = copy.deepcopy(find(default_manifests, "Deployment", "tradestream-trades-stream"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize("variation", ["defaults", "one-broker", "ingestion-dry", "pipeline-dry", "flink-1.18",
                                       "plaintext", "s3-state", "exposed"])
def test_helm_lint_is_clean(helm, variation):
    proc = helm.lint(sets=VARIATIONS[variation])

    assert proc.returncode == 0, proc.stdout + proc.stderr
    findings = [line for line in proc.stdout.splitlines() if line.startswith(("[WARNING]", "[ERROR]"))]
    assert findings == []


@pytest.mark.parametrize("run_mode", ["wet", "dry"])
def test_ingestion_run_mode_reaches_the_ingestion_command_and_settings(render, run_mode):
    manifests = render(sets=[f"dataIngestion.runMode={run_mode}"])
    ingestion = find(manifests, "Deployment", "tradestream-trades-stream")
    (stream,) = ingestion["spec"]["template"]["spec"]["containers"]

    assert stream["args"] == ["python", "-m", "streaming.ingestion", "--mode", run_mode]
    assert find(manifests, "ConfigMap", "tradestream-env")["data"]["TRADESTREAM_INGEST_MODE"] == run_mode


def test_ingestion_defaults_to_wet_as_in_the_seed():
    assert chart_values()["dataIngestion"]["runMode"] == "wet"


@pytest.mark.parametrize("sets, message", [
    (["dataIngestion.runMode=moist"], "/dataIngestion/runMode"),
    (["pipeline.runMode=damp"], "/pipeline/runMode"),
    (["kafka.replicaCount=0"], "/kafka/replicaCount"),
    (["kafka.replicaCout=3"], "replicaCout"),
])
def test_values_schema_rejects_bad_values_naming_the_field(render, sets, message):
    with pytest.raises(RenderError, match=message):
        render(sets=sets)


def test_values_schema_accepts_the_charts_own_values(chart_dir):
    import json

    schema = json.loads((chart_dir / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(chart_values())


def test_chart_declares_dagsters_official_chart_at_the_installed_version(chart_dir):
    import importlib.metadata

    import yaml

    (dependency,) = yaml.safe_load((chart_dir / "Chart.yaml").read_text())["dependencies"]
    assert dependency["name"] == "dagster"
    assert dependency["repository"] == "https://dagster-io.github.io/helm"
    assert dependency["version"] == importlib.metadata.version("dagster")
    assert dependency["condition"] == "dagster.enabled"


def test_the_small_cluster_values_render_one_broker_simulator_and_embedded_flink(helm):
    manifests = helm.template(extra=["-f", str(helm.chart / "values-small.yaml")])

    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBE_VERSIONS[0], strict=True)
    assert find(manifests, "StatefulSet", "tradestream-kafka")["spec"]["replicas"] == 1
    settings = find(manifests, "ConfigMap", "tradestream-env")["data"]
    assert settings["TRADESTREAM_INGEST_MODE"] == "dry"
    assert settings["TRADESTREAM_FLINK_MASTER"] == "[local]"
    assert not [d for d in manifests if d["metadata"]["name"].startswith("tradestream-flink")
                and d["kind"] != "PersistentVolumeClaim"]
    # the submitters' checkpoints, on one node
    state = find(manifests, "PersistentVolumeClaim", "tradestream-flink-state")
    assert state["spec"]["accessModes"] == ["ReadWriteOnce"]
