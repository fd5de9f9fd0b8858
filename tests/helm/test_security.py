"""Sound defaults: non-root, resources, probes, NetworkPolicies, no secret outside Secrets,
nothing exposed outside the cluster unless asked for."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helm.chart import RenderError, chart_values, embedded_manifest, find, of_kind, pod_spec, workloads


def all_workloads(manifests):
    """The chart's workloads plus the ones the stream supervisor creates from its templates."""
    templates = find(manifests, "ConfigMap", "tradestream-stream-templates")
    return workloads(manifests) + [embedded_manifest(templates, "process-deployment.yaml"),
                                   embedded_manifest(templates, "beam-job.yaml")]


def containers(workload):
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def name_of(workload, container=None):
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    return f"{name} container {container['name']}" if container else name


EXPOSED = ["exposure.dagster.enabled=true", "exposure.dagster.host=dagster.example.com",
           "exposure.kafkaUi.enabled=true", "exposure.kafkaUi.host=kafka.example.com", "exposure.tlsSecret=ui-tls",
           "exposure.authProxy.oidcIssuerUrl=https://accounts.example.com", "exposure.authProxy.clientSecret=ui-oidc"]


@pytest.fixture(scope="module", params=["defaults", "plaintext", "pipeline-dry", "exposed"])
def manifests(request, render):
    sets = {"defaults": [], "plaintext": ["kafka.security.protocol=PLAINTEXT"],
            "pipeline-dry": ["pipeline.runMode=dry"], "exposed": EXPOSED}
    return render(sets=sets[request.param])


def test_every_pod_runs_as_a_non_root_user(manifests):
    for workload in all_workloads(manifests):
        pod = pod_spec(workload)["securityContext"]
        assert pod["runAsNonRoot"] is True, name_of(workload)
        assert pod["runAsUser"] > 0, name_of(workload)
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name_of(workload)
        for container in containers(workload):
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, name_of(workload, container)
            assert ctx["capabilities"]["drop"] == ["ALL"], name_of(workload, container)
            assert ctx["readOnlyRootFilesystem"] is True, name_of(workload, container)
            assert ctx.get("runAsUser", pod["runAsUser"]) > 0, name_of(workload, container)


def test_dagsters_pods_run_as_non_root_users():
    dagster = chart_values()["dagster"]
    pod_contexts = [dagster["dagsterWebserver"]["podSecurityContext"], dagster["dagsterDaemon"]["podSecurityContext"],
                    dagster["dagster-user-deployments"]["deployments"][0]["podSecurityContext"],
                    dagster["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]["securityContext"]]
    for ctx in pod_contexts:
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0


def test_every_container_requests_and_limits_cpu_and_memory(manifests):
    for workload in all_workloads(manifests):
        for container in containers(workload):
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{name_of(workload, container)} {bound}"


def test_long_running_containers_have_liveness_and_readiness_probes(manifests):
    for workload in all_workloads(manifests):
        if workload["kind"] == "Job":  # runs to completion; its exit code is its health
            continue
        for container in pod_spec(workload)["containers"]:
            assert "livenessProbe" in container, name_of(workload, container)
            assert "readinessProbe" in container, name_of(workload, container)


def test_dagsters_webserver_daemon_and_code_server_have_probes():
    dagster = chart_values()["dagster"]
    assert dagster["dagsterDaemon"]["livenessProbe"]["exec"]["command"] == ["dagster-daemon", "liveness-check"]
    assert dagster["dagsterWebserver"]["readinessProbe"]["httpGet"]["path"] == "/server_info"
    assert dagster["dagsterWebserver"]["livenessProbe"]["httpGet"]["path"] == "/server_info"
    user_code = dagster["dagster-user-deployments"]["deployments"][0]
    assert user_code["readinessProbe"]["enabled"] is True
    assert user_code["livenessProbe"]["periodSeconds"] > 0  # Dagster's chart fills in its gRPC health check


# ------------------------------------------------------------------ network policies


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def allowed(policies, target_labels: dict, source_labels: dict, port: int) -> bool:
    """Kubernetes' rule for same-namespace traffic: isolated pods accept what some policy allows."""
    relevant = [p for p in policies if selects(p["spec"]["podSelector"], target_labels)
                and "Ingress" in p["spec"]["policyTypes"]]
    if not relevant:
        return True
    for policy in relevant:
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            peers = rule.get("from", [])
            if ports and port not in ports:
                continue
            if not peers or any("podSelector" in peer and "namespaceSelector" not in peer
                                and selects(peer["podSelector"], source_labels) for peer in peers):
                return True
    return False


def pod_labels(manifests, kind, name):
    return find(manifests, kind, name)["spec"]["template"]["metadata"]["labels"]


def test_only_the_platforms_pods_reach_kafka(default_manifests):
    policies = of_kind(default_manifests, "NetworkPolicy")
    broker = pod_labels(default_manifests, "StatefulSet", "tradestream-kafka")
    templates = find(default_manifests, "ConfigMap", "tradestream-stream-templates")
    dagster = chart_values()["dagster"]
    clients = {
        "ingestion": pod_labels(default_manifests, "Deployment", "tradestream-trades-stream"),
        "taskmanager + Beam worker pool": pod_labels(default_manifests, "Deployment", "tradestream-flink-taskmanager"),
        "kafka ui": pod_labels(default_manifests, "Deployment", "tradestream-kafka-ui"),
        "access job": pod_labels(default_manifests, "Job", "tradestream-kafka-access"),
        "beam submitter": embedded_manifest(templates, "beam-job.yaml")["spec"]["template"]["metadata"]["labels"],
        "dagster code server": dagster["dagster-user-deployments"]["deployments"][0]["labels"],
        "dagster run pod": dagster["runLauncher"]["config"]["k8sRunLauncher"]["labels"],
    }
    outsiders = {
        "flink jobmanager": pod_labels(default_manifests, "Deployment", "tradestream-flink-jobmanager"),
        "dagster webserver": {"app.kubernetes.io/name": "dagster", "component": "dagster-webserver"},
        "some other app": {"app": "anything"},
    }

    for who, labels in clients.items():
        assert allowed(policies, broker, labels, 9092), f"{who} cannot reach Kafka"
        assert not allowed(policies, broker, labels, 9093), f"{who} reaches the KRaft controllers"
    for who, labels in outsiders.items():
        assert not allowed(policies, broker, labels, 9092), f"{who} reaches Kafka"
    assert allowed(policies, broker, broker, 9093)


def test_only_flink_clients_and_taskmanagers_reach_the_jobmanager(default_manifests):
    policies = of_kind(default_manifests, "NetworkPolicy")
    jobmanager = pod_labels(default_manifests, "Deployment", "tradestream-flink-jobmanager")
    taskmanager = pod_labels(default_manifests, "Deployment", "tradestream-flink-taskmanager")
    submitter = embedded_manifest(find(default_manifests, "ConfigMap", "tradestream-stream-templates"),
                                  "beam-job.yaml")["spec"]["template"]["metadata"]["labels"]
    ingestion = pod_labels(default_manifests, "Deployment", "tradestream-trades-stream")

    assert allowed(policies, jobmanager, submitter, 8081)
    assert allowed(policies, jobmanager, taskmanager, 6123)
    assert not allowed(policies, jobmanager, ingestion, 8081)
    assert not allowed(policies, jobmanager, submitter, 6123)
    assert allowed(policies, taskmanager, jobmanager, 6122)
    assert not allowed(policies, taskmanager, submitter, 6122)


def test_network_policies_cover_every_tradestream_workload(default_manifests):
    policies = of_kind(default_manifests, "NetworkPolicy")
    for workload in workloads(default_manifests):
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert any(selects(p["spec"]["podSelector"], labels) for p in policies) or workload["kind"] == "Job", \
            f"{name_of(workload)} accepts traffic from anywhere"


# ------------------------------------------------------------------ secrets


def test_no_secret_value_appears_outside_a_secret(default_manifests):
    from streaming.kafka.access import COMPONENTS

    secret_values = [base64.b64decode(v).decode() for s in of_kind(default_manifests, "Secret")
                     for k, v in s.get("data", {}).items() if "PASSWORD" in k.upper()]
    elsewhere = json.dumps([m for m in default_manifests if m["kind"] != "Secret"])

    # a user per component, the admin, inter-broker, controller, Postgres
    assert len(secret_values) == len(COMPONENTS) + 4
    for value in secret_values:
        assert len(value) >= 32
        assert value not in elsewhere


def test_config_maps_hold_no_credentials(manifests):
    for config_map in of_kind(manifests, "ConfigMap"):
        for key in config_map["data"]:
            assert not any(word in key.upper() for word in ("PASSWORD", "SECRET", "TOKEN")), \
                f"{config_map['metadata']['name']} carries {key}"


def test_a_setting_that_looks_like_a_secret_is_refused(render):
    with pytest.raises(RenderError, match="settings.TRADESTREAM_KAFKA_SASL_PASSWORD looks like a secret"):
        render(sets=["settings.TRADESTREAM_KAFKA_SASL_PASSWORD=hunter2"])


def test_extra_settings_reach_every_tradestream_process(render):
    manifests = render(sets=["settings.TRADESTREAM_INGEST_PRODUCTS=BTC-USD\\,ETH-USD"])
    assert find(manifests, "ConfigMap", "tradestream-env")["data"]["TRADESTREAM_INGEST_PRODUCTS"] == "BTC-USD,ETH-USD"


def test_alert_urls_reach_the_code_server_only_through_their_secret(render):
    """The Apprise URLs carry tokens: they land in the Secret the code server (which runs the
    sensors) reads, comma separated the way AlertSettings splits them, and nowhere else."""
    from tradestream.settings import AlertSettings

    urls = ["slack://T000/B000/XXXXsecret", "json://hooks.example.com/alerts"]
    manifests = render(values={"alerts": {"urls": urls}})
    secret = find(manifests, "Secret", "tradestream-alerts")
    joined = base64.b64decode(secret["data"]["TRADESTREAM_ALERTS_URLS"]).decode()
    assert [u.get_secret_value() for u in AlertSettings(urls=joined).urls] == urls
    elsewhere = json.dumps([m for m in manifests if m["kind"] != "Secret"])
    assert "XXXXsecret" not in elsewhere
    code_server = chart_values()["dagster"]["dagster-user-deployments"]["deployments"][0]
    assert {"name": "tradestream-alerts"} in code_server["envSecrets"]


def test_alerts_secret_can_be_left_to_the_operator_and_bad_urls_are_refused(render):
    assert not [s for s in of_kind(render(sets=["alerts.createSecret=false"]), "Secret")
                if s["metadata"]["name"] == "tradestream-alerts"]
    with pytest.raises(RenderError, match="alerts.urls"):
        render(values={"alerts": {"urls": ["hooks.example.com/no-scheme"]}})


# ------------------------------------------------------------------ exposure


def test_services_stay_inside_the_cluster(manifests):
    for service in of_kind(manifests, "Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", service["metadata"]["name"]


def test_dagsters_webserver_is_not_exposed_unless_an_ingress_is_enabled():
    dagster = chart_values()["dagster"]
    assert dagster["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    assert dagster["ingress"]["enabled"] is False


def test_exposing_the_webserver_without_an_ingress_is_refused_naming_the_type(render):
    with pytest.raises(RenderError, match="service.type=LoadBalancer would expose Dagster's webserver"):
        render(sets=["dagster.dagsterWebserver.service.type=LoadBalancer"])
