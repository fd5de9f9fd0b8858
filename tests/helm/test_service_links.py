"""Kubernetes gives pods a variable per Service (`<NAME>_PORT=tcp://...` and friends, unless
enableServiceLinks is off). A Service called `tradestream-kafka` would set
TRADESTREAM_KAFKA_PORT, which the settings read as kafka.port: no Service in the namespace
may be named so that one of those variables is a TradeStream setting."""

from __future__ import annotations

from streaming.venues.registry import SOURCES
from tests.helm.chart import chart_values, of_kind, pod_spec, workloads
from tradestream.settings import Settings

# Dagster's chart adds these Services next to ours (its templates are not rendered offline).
DAGSTER_SERVICES = {
    "tradestream": [{"port": 3030, "protocol": "TCP", "name": "grpc"}],  # the user-code deployment's name
    "tradestream-dagster-webserver": [{"port": 3000, "protocol": "TCP", "name": "http"}],
    "tradestream-postgresql": [{"port": 5432, "protocol": "TCP", "name": "tcp-postgresql"}],
}


def setting_variables() -> set[str]:
    core = [field.annotation for name, field in Settings.model_fields.items() if name != "venues"]
    venues = [spec.settings for spec in SOURCES.values() if spec.settings is not None]
    names = set()
    for model in (*core, *venues):
        prefix = model.model_config.get("env_prefix", "")
        names |= {f"{prefix}{field}".upper() for field in model.model_fields}
    return names


def service_link_variables(name: str, ports: list[dict]) -> set[str]:
    base = name.upper().replace("-", "_")
    names = {f"{base}_SERVICE_HOST", f"{base}_SERVICE_PORT", f"{base}_PORT"}
    for port in ports:
        proto = port.get("protocol", "TCP")
        tcp = f"{base}_PORT_{port['port']}_{proto}"
        names |= {tcp, f"{tcp}_ADDR", f"{tcp}_PORT", f"{tcp}_PROTO"}
        if port.get("name"):
            names.add(f"{base}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}")
    return names


def test_no_service_variable_shadows_a_tradestream_setting(default_manifests):
    settings = setting_variables()
    services = {s["metadata"]["name"]: s["spec"]["ports"] for s in of_kind(default_manifests, "Service")
                if s["spec"].get("clusterIP") != "None"}  # headless Services get no variables

    assert "TRADESTREAM_KAFKA_PORT" in settings  # the variable a `tradestream-kafka` Service would set
    assert "TRADESTREAM_COINBASE_WS_URL" in settings  # venue sections count too
    for name, ports in {**services, **DAGSTER_SERVICES}.items():
        clash = service_link_variables(name, ports) & settings
        assert not clash, f"Service {name} would set {sorted(clash)} in every pod of the namespace"


def test_our_pods_and_dagsters_run_pods_get_no_service_variables(default_manifests):
    for workload in workloads(default_manifests):
        assert pod_spec(workload)["enableServiceLinks"] is False, workload["metadata"]["name"]
    run_pods = chart_values()["dagster"]["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]
    assert run_pods["enableServiceLinks"] is False
