"""The `dagster:` block: valid for Dagster's chart (its published schema), wired to our
objects, and configured like the repository's dagster.yaml."""

from __future__ import annotations

import copy
import posixpath

import jsonschema
import pytest
import yaml

from tests.helm.chart import REPO_ROOT, DagsterChart, RenderError, chart_values, coalesce, find


def validate_dagster(dagster_chart: DagsterChart, values) -> None:
    jsonschema.Draft202012Validator(dagster_chart.schema()).validate(values)


def test_values_passed_to_dagsters_chart_validate_against_its_schema(dagster_chart):
    validate_dagster(dagster_chart, dagster_chart.values())


def test_values_passed_to_dagsters_user_code_subchart_validate_against_its_schema(dagster_chart):
    merged = dagster_chart.values()
    subchart = coalesce(dagster_chart.user_deployments_defaults(),
                        {**merged["dagster-user-deployments"], "global": merged["global"]})
    jsonschema.Draft202012Validator(dagster_chart.user_deployments_schema()).validate(subchart)


@pytest.mark.parametrize("path, bad", [
    (("dagsterDaemon", "runRetries", "enabled"), "yes"),
    (("dagsterWebserver", "readinessProbe", "periodSeconds"), "often"),  # a Kubernetes Probe field
    (("runLauncher", "config", "k8sRunLauncher", "imagePulPolicy"), "Always"),
])
def test_dagster_schema_check_rejects_bad_values(dagster_chart, path, bad):
    """Guards the two tests above: the offline schema is strict where Dagster's is."""
    values = dagster_chart.values()
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        validate_dagster(dagster_chart, values)


def test_helm_itself_checks_dagster_values_against_dagsters_schema(render):
    with pytest.raises(RenderError, match=r"dagster:[\s\S]*runRetries/enabled"):
        render(sets=["dagster.dagsterDaemon.runRetries.enabled=maybe"])


def user_code():
    (deployment,) = chart_values()["dagster"]["dagster-user-deployments"]["deployments"]
    return deployment


def test_user_code_deployment_runs_the_tradestream_image_as_a_grpc_code_server(default_manifests):
    deployment = user_code()
    image = chart_values()["image"]
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    module = workspace["load_from"][0]["python_module"]["module_name"]

    assert deployment["name"] == "tradestream"
    assert (deployment["image"]["repository"], deployment["image"]["tag"]) == (image["repository"], image["tag"])
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module] == ["-m", "tradestream_assets.definitions"]
    assert deployment["port"] == 3030
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    # the ConfigMap and Secret it reads are rendered by this chart
    for ref in deployment["envConfigMaps"]:
        find(default_manifests, "ConfigMap", ref["name"])
    for ref in deployment["envSecrets"]:
        find(default_manifests, "Secret", ref["name"])


def test_a_user_code_image_other_than_the_streams_image_is_refused(render):
    values = {"dagster": copy.deepcopy(chart_values()["dagster"])}
    values["dagster"]["dagster-user-deployments"]["deployments"][0]["image"]["tag"] = "0.0.9"
    with pytest.raises(RenderError, match=r"runs image ghcr.io/tradestream/tradestream:0.0.9 but the streams run "
                                          r"ghcr.io/tradestream/tradestream:0.1.0"):
        render(values=values)


def test_dagster_runs_with_k8s_run_launcher_postgres_and_a_supervising_daemon(default_manifests):
    dagster = chart_values()["dagster"]
    postgres_secret = find(default_manifests, "Secret", dagster["global"]["postgresqlSecretName"])

    assert dagster["runLauncher"]["type"] == "K8sRunLauncher"
    assert dagster["postgresql"]["enabled"] is True
    assert dagster["postgresql"]["existingSecret"] == postgres_secret["metadata"]["name"]
    assert "postgresql-password" in postgres_secret["data"]
    assert dagster["generatePostgresqlPasswordSecret"] is False
    assert dagster["dagsterDaemon"]["enabled"] is True
    assert dagster["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert dagster["dagsterDaemon"]["runMonitoring"]["enabled"] is True
    assert dagster["dagsterDaemon"]["runRetries"]["enabled"] is True


def test_instance_settings_match_the_repositorys_dagster_yaml():
    instance = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    dagster = chart_values()["dagster"]
    daemon = dagster["dagsterDaemon"]

    monitoring = instance["run_monitoring"]
    assert daemon["runMonitoring"]["enabled"] == monitoring["enabled"]
    assert daemon["runMonitoring"]["startTimeoutSeconds"] == monitoring["start_timeout_seconds"]
    assert daemon["runMonitoring"]["cancelTimeoutSeconds"] == monitoring["cancel_timeout_seconds"]
    assert daemon["runMonitoring"]["pollIntervalSeconds"] == monitoring["poll_interval_seconds"]
    assert daemon["runRetries"] == {"enabled": instance["run_retries"]["enabled"],
                                    "maxRetries": instance["run_retries"]["max_retries"]}
    runs = instance["concurrency"]["runs"]
    assert dagster["concurrency"]["enabled"] is True
    assert dagster["concurrency"]["runs"]["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert dagster["concurrency"]["runs"]["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]
    assert dagster["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    assert daemon["sensors"] == {"useThreads": instance["sensors"]["use_threads"],
                                 "numWorkers": instance["sensors"]["num_workers"]}
    assert daemon["schedules"] == {"useThreads": instance["schedules"]["use_threads"],
                                   "numWorkers": instance["schedules"]["num_workers"]}
    assert dagster["telemetry"]["enabled"] == instance["telemetry"]["enabled"]


def test_code_server_and_run_pods_mount_the_data_volume_where_the_settings_point(default_manifests):
    deployment = user_code()
    claim = find(default_manifests, "PersistentVolumeClaim", "tradestream-data")
    settings = find(default_manifests, "ConfigMap", "tradestream-env")["data"]
    volume = next(v for v in deployment["volumes"] if "persistentVolumeClaim" in v)
    mount = next(m for m in deployment["volumeMounts"] if m["name"] == volume["name"])
    run_pods = chart_values()["dagster"]["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]

    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert mount["name"] == volume["name"]
    assert posixpath.dirname(settings["TRADESTREAM_DUCKDB_PATH"]) == mount["mountPath"]
    assert posixpath.dirname(settings["TRADESTREAM_HOME"]) == mount["mountPath"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # run pods inherit the volume through the container context; with ReadWriteOnce they must
    # share a node with the code server, whose pods carry these labels in Dagster's chart
    (term,) = run_pods["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"] == {"component": "user-deployments", "deployment": deployment["name"]}
    assert deployment["deploymentStrategy"] == {"type": "Recreate"}


def test_moving_the_data_volume_without_mounting_it_for_dagster_is_refused(render):
    with pytest.raises(RenderError, match="does not mount data.mountPath=/srv/data"):
        render(sets=["data.mountPath=/srv/data"])
