"""Prometheus: Flink's reporter on every Flink pod, optional PodMonitors that find the pods and ports
that serve metrics, and a PrometheusRule whose alerts name metrics that exist.

The ingestion metric names come from the real collector's exposition; Flink's from Flink's
documentation (written here by hand, not derived from the chart)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.helm.chart import find, of_kind, pod_spec
from tests.helm.test_security import allowed

MONITORED = ["monitoring.podMonitor.enabled=true", "monitoring.prometheusRule.enabled=true",
             "monitoring.podMonitor.labels.release=kube-prometheus-stack"]

# https://nightlies.apache.org/flink/flink-docs-release-1.19/docs/ops/metrics/#system-metrics and the
# Prometheus reporter's naming (scope components joined by "_", prefixed "flink_"): JobManager scope
# `jobmanager`, job scope `jobmanager.job`.
FLINK_METRICS = {"flink_jobmanager_numRunningJobs", "flink_jobmanager_job_numRestarts",
                 "flink_jobmanager_job_numberOfFailedCheckpoints",
                 "flink_jobmanager_job_numberOfCompletedCheckpoints"}
PROMETHEUS_OWN = {"up"}


@pytest.fixture(scope="module")
def monitored(render):
    return render(sets=MONITORED)


def ingestion_metric_names() -> set[str]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from streaming.ingestion.metrics import IngestCollector, IngestCounters

    registry = CollectorRegistry()
    registry.register(IngestCollector(IngestCounters(), "coinbase", queue_length=lambda: 0))
    text = generate_latest(registry).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def ports(workload) -> set[str]:
    return {p["name"] for c in pod_spec(workload)["containers"] for p in c.get("ports", [])}


def matches(selector: dict, labels: dict) -> bool:
    ok = all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        ok = ok and labels.get(expression["key"]) in expression["values"]
    return ok


def test_flink_reports_to_prometheus_on_a_named_port_open_to_the_namespace(default_manifests):
    config = yaml.safe_load(find(default_manifests, "ConfigMap", "tradestream-flink-config")["data"]["flink-conf.yaml"])
    assert config["metrics.reporter.prom.factory.class"] == \
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    policies = of_kind(default_manifests, "NetworkPolicy")
    for name in ("tradestream-flink-jobmanager", "tradestream-flink-taskmanager"):
        workload = find(default_manifests, "Deployment", name)
        port = next(p for c in pod_spec(workload)["containers"] for p in c.get("ports", []) if p["name"] == "metrics")
        assert port["containerPort"] == config["metrics.reporter.prom.port"] == 9249
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert allowed(policies, labels, {"app.kubernetes.io/name": "prometheus"}, 9249), name
        assert not allowed(policies, labels, {"app.kubernetes.io/name": "prometheus"}, 6123), name


def test_no_prometheus_operator_objects_unless_asked(default_manifests):
    assert not [m for m in default_manifests if m["apiVersion"].startswith("monitoring.coreos.com/")]


def test_pod_monitors_find_ingestion_and_every_flink_pod_by_their_metrics_port(monitored):
    monitors = {m["metadata"]["name"]: m for m in of_kind(monitored, "PodMonitor")}
    assert set(monitors) == {"tradestream-streams", "tradestream-flink"}
    targets = {"tradestream-streams": ["tradestream-trades-stream"],
               "tradestream-flink": ["tradestream-flink-jobmanager", "tradestream-flink-taskmanager"]}
    for monitor_name, deployments in targets.items():
        monitor = monitors[monitor_name]
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        for deployment in deployments:
            workload = find(monitored, "Deployment", deployment)
            assert matches(monitor["spec"]["selector"], workload["spec"]["template"]["metadata"]["labels"]), deployment
            assert endpoint["port"] in ports(workload), deployment
    assert not matches(monitors["tradestream-flink"]["spec"]["selector"],
                       find(monitored, "StatefulSet", "tradestream-kafka")["spec"]["template"]["metadata"]["labels"])


def test_every_alert_names_metrics_that_exist(monitored):
    (rule,) = of_kind(monitored, "PrometheusRule")
    known = ingestion_metric_names() | FLINK_METRICS | PROMETHEUS_OWN
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert len({a["alert"] for a in alerts}) == len(alerts) >= 8
    for alert in alerts:
        names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", alert["expr"])) - {"absent"}
        assert names and names <= known, f"{alert['alert']}: unknown {names - known}"
        assert "namespace=\"tradestream-namespace\"" in alert["expr"], alert["alert"]  # this release only
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
    down = next(a for a in alerts if a["alert"] == "TradeStreamIngestionDown")
    assert "tradestream-streams" in down["expr"]  # the job label Prometheus gives the PodMonitor's targets


def test_a_dry_pipeline_has_no_flink_to_monitor(render):
    manifests = render(sets=[*MONITORED, "pipeline.runMode=dry"])
    assert [m["metadata"]["name"] for m in of_kind(manifests, "PodMonitor")] == ["tradestream-streams"]
    (rule,) = of_kind(manifests, "PrometheusRule")
    assert [g["name"] for g in rule["spec"]["groups"]] == ["tradestream-ingestion"]
