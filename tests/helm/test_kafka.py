"""Kafka in the chart: KRaft brokers, durability, storage, topics, SASL; the broker start
script and the topics Job are run against Kafka's real tools."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from tests.helm.chart import NAMESPACE, RenderError, chart_values, find, of_kind, pod_spec
from tests.helm.kafka_tools import kafka_tools_home

SINGLE_BROKER = ["kafka.replicaCount=1", "kafka.replicationFactor=1", "kafka.minInsyncReplicas=1"]


def broker_properties(manifests) -> dict[str, str]:
    text = find(manifests, "ConfigMap", "tradestream-kafka-config")["data"]["server.properties"]
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def container(workload, name):
    return next(c for c in pod_spec(workload)["containers"] if c["name"] == name)


def test_default_kafka_is_three_kraft_brokers_with_replication_3_and_min_isr_2(default_manifests):
    brokers = find(default_manifests, "StatefulSet", "tradestream-kafka")
    props = broker_properties(default_manifests)

    assert brokers["spec"]["replicas"] == 3
    assert props["process.roles"] == "broker,controller"
    voters = props["controller.quorum.voters"].split(",")
    assert voters == [f"{i}@tradestream-kafka-{i}.tradestream-kafka-headless.{NAMESPACE}.svc.cluster.local:9093"
                      for i in range(3)]
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    # Kafka's internal topics are as durable as the data topics
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert props["auto.create.topics.enable"] == "false"
    assert container(brokers, "kafka")["image"] == f"apache/kafka:{chart_values()['kafka']['image']['tag']}"


def test_brokers_start_together_so_the_kraft_quorum_can_form(default_manifests):
    brokers = find(default_manifests, "StatefulSet", "tradestream-kafka")
    headless = find(default_manifests, "Service", "tradestream-kafka-headless")

    assert brokers["spec"]["podManagementPolicy"] == "Parallel"
    assert brokers["spec"]["serviceName"] == "tradestream-kafka-headless"
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True


def test_brokers_keep_their_logs_on_persistent_volumes(default_manifests):
    brokers = find(default_manifests, "StatefulSet", "tradestream-kafka")
    (claim,) = brokers["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container(brokers, "kafka")["volumeMounts"]}

    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert broker_properties(default_manifests)["log.dirs"].startswith(mounts["data"] + "/")
    # scaling down or deleting the StatefulSet never deletes a broker's data
    assert brokers["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


@pytest.mark.parametrize("brokers", [1, 5])
def test_replica_count_sets_brokers_and_controller_quorum(render, brokers):
    sets = [f"kafka.replicaCount={brokers}"] + (SINGLE_BROKER[1:] if brokers == 1 else [])
    manifests = render(sets=sets)

    assert find(manifests, "StatefulSet", "tradestream-kafka")["spec"]["replicas"] == brokers
    voters = broker_properties(manifests)["controller.quorum.voters"].split(",")
    assert [v.split("@")[0] for v in voters] == [str(i) for i in range(brokers)]


def test_replication_factor_above_broker_count_is_refused_naming_the_values(render):
    with pytest.raises(RenderError, match=r"kafka.replicationFactor=3 exceeds kafka.replicaCount=2"):
        render(sets=["kafka.replicaCount=2"])


def test_min_insync_replicas_above_replication_factor_is_refused(render):
    with pytest.raises(RenderError, match=r"kafka.minInsyncReplicas=3 exceeds kafka.replicationFactor=2"):
        render(sets=["kafka.replicationFactor=2", "kafka.minInsyncReplicas=3"])


def test_a_malformed_cluster_id_is_refused_naming_it(render):
    with pytest.raises(RenderError, match=r"kafka.clusterId"):
        render(sets=["kafka.clusterId=not-a-uuid"])


def test_the_access_job_runs_the_access_layer_as_the_admin_with_every_components_password(default_manifests):
    from streaming.kafka.access import COMPONENTS

    job = find(default_manifests, "Job", "tradestream-kafka-access")
    access = container(job, "access")
    volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    passwords = {source["secret"]["name"]: source["secret"]["items"] for source in
                 volumes["kafka-users"]["projected"]["sources"]}

    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    assert access["args"][:4] == ["python", "-m", "streaming.kafka.access", "apply"]
    assert "--passwords-dir" in access["args"]
    assert {"secretRef": {"name": "tradestream-kafka-admin"}} in access["envFrom"]
    assert passwords == {f"tradestream-kafka-user-{c}": [{"key": "TRADESTREAM_KAFKA_SASL_PASSWORD", "path": c}]
                         for c in COMPONENTS}


def test_the_charts_kafka_components_are_the_access_layers(default_manifests):
    from streaming.kafka.access import COMPONENTS, user_name

    users = {s["metadata"]["labels"]["tradestream.io/kafka-user"]: s for s in of_kind(default_manifests, "Secret")
             if "tradestream.io/kafka-user" in s["metadata"]["labels"]}
    assert tuple(users) == COMPONENTS
    for component, secret in users.items():
        assert base64.b64decode(secret["data"]["TRADESTREAM_KAFKA_SASL_USERNAME"]).decode() == user_name(component)


def test_kafka_is_secured_by_default_on_both_listeners_like_the_local_runtime(default_manifests, tmp_path):
    """The chart's broker security settings equal the local runtime's (tradestream/runtime/kafka.py),
    which the end-to-end tests run; paths and passwords aside."""
    from tests.conftest import make_settings
    from tradestream.runtime.kafka import LocalKafka

    props = broker_properties(default_manifests)
    local = LocalKafka(make_settings(tmp_path))._security_properties()
    for key, value in local.items():
        if key.endswith((".location", "jaas.config")):
            continue  # start.sh writes these with the pod's paths and the Secrets' passwords
        assert props[key] == value, key
    settings = find(default_manifests, "ConfigMap", "tradestream-env")["data"]
    assert settings["TRADESTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["TRADESTREAM_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert settings["TRADESTREAM_KAFKA_SSL_CA_LOCATION"] == "/etc/tradestream/kafka-tls/ca.crt"


def test_plaintext_turns_security_off(render):
    manifests = render(sets=["kafka.security.protocol=PLAINTEXT"])
    props = broker_properties(manifests)
    assert props["listener.security.protocol.map"] == "BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert "authorizer.class.name" not in props
    assert not [s for s in of_kind(manifests, "Secret") if s["metadata"]["name"] == "tradestream-kafka-tls"]
    # the users' Secrets exist, empty, so every reference resolves
    assert find(manifests, "Secret", "tradestream-kafka-user-candles")["data"] == {}


def test_brokers_take_their_credentials_and_certificate_from_secrets(default_manifests):
    brokers = find(default_manifests, "StatefulSet", "tradestream-kafka")
    env = {e["name"]: e for e in container(brokers, "kafka")["env"]}
    volumes = {v["name"]: v for v in pod_spec(brokers)["volumes"]}

    assert env["KAFKA_INTER_BROKER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "tradestream-kafka-broker"
    assert env["KAFKA_CONTROLLER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "tradestream-kafka-broker"
    assert env["KAFKA_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "tradestream-kafka-admin"
    assert volumes["tls"]["secret"]["secretName"] == "tradestream-kafka-tls"
    # the brokers' volumes remember the SCRAM users, so the passwords must outlive an uninstall
    # (the alerts' Secret holds only what the values give: it goes with the release)
    generated = [s for s in of_kind(default_manifests, "Secret") if s["metadata"]["name"] != "tradestream-alerts"]
    assert len(generated) == len(of_kind(default_manifests, "Secret")) - 1
    for secret in generated:
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", secret["metadata"]["name"]


def test_the_brokers_certificate_covers_every_broker_and_the_bootstrap_service(default_manifests):
    from cryptography import x509

    from tradestream.runtime.certificates import covered_hosts

    tls = find(default_manifests, "Secret", "tradestream-kafka-tls")["data"]
    certificate = x509.load_pem_x509_certificate(base64.b64decode(tls["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(tls["ca.crt"]))
    hosts = covered_hosts(certificate)

    certificate.verify_directly_issued_by(ca)
    domain = f"{NAMESPACE}.svc.cluster.local"
    assert f"*.tradestream-kafka-headless.{domain}" in hosts  # tradestream-kafka-<i>.tradestream-kafka-headless...
    assert f"tradestream-kafka-bootstrap.{domain}" in hosts


# ------------------------------------------------------------------ the scripts, for real


@pytest.fixture(scope="session")
def kafka_home() -> Path:
    return kafka_tools_home(str(chart_values()["kafka"]["image"]["tag"]))


def run_start_script(manifests, workdir: Path, data: Path, kafka_home: Path,
                     env: dict[str, str], tls: Path | None = None) -> subprocess.CompletedProcess:
    """Run the chart's start.sh as broker 1, with a kafka-server-start.sh that keeps the config."""
    config_map = find(manifests, "ConfigMap", "tradestream-kafka-config")["data"]
    template = workdir / "template"
    template.mkdir(parents=True)
    (template / "server.properties").write_text(
        config_map["server.properties"].replace("/var/lib/kafka/data", str(data)))
    (template / "start.sh").write_text(config_map["start.sh"])
    home = workdir / "kafka"
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "kafka-storage.sh").symlink_to(kafka_home / "bin" / "kafka-storage.sh")
    (home / "bin" / "kafka-server-start.sh").write_text(f'#!/bin/bash\ncp "$1" "{workdir}/started.properties"\n')
    (home / "bin" / "kafka-server-start.sh").chmod(0o755)
    (workdir / "runtime").mkdir()
    brokers = find(manifests, "StatefulSet", "tradestream-kafka")
    pod_env = {e["name"]: e["value"] for e in container(brokers, "kafka")["env"] if "value" in e}
    full_env = {**os.environ, **pod_env, "POD_NAMESPACE": NAMESPACE, "HOSTNAME": "tradestream-kafka-1",
                "KAFKA_HOME": str(home), "KAFKA_TEMPLATE_DIR": str(template),
                "KAFKA_RUNTIME_DIR": str(workdir / "runtime"), "KAFKA_HEAP_OPTS": "-Xmx256m",
                "LOG_DIR": str(workdir / "logs"), **({"KAFKA_TLS_DIR": str(tls)} if tls else {}), **env}
    full_env.pop("KAFKA_LOG4J_OPTS", None)
    return subprocess.run(["bash", str(template / "start.sh")], env=full_env, capture_output=True, text=True,
                          timeout=180, check=False)


def read_properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return dict(pairs)


def test_broker_start_script_formats_storage_once_with_kafkas_storage_tool(render, tmp_path, kafka_home):
    plaintext = render(sets=["kafka.security.protocol=PLAINTEXT"])
    data = tmp_path / "data"
    first = run_start_script(plaintext, tmp_path / "first", data, kafka_home, {})

    assert first.returncode == 0, first.stderr
    meta = read_properties(data / "logs" / "meta.properties")
    assert meta["node.id"] == "1"
    assert meta["cluster.id"] == chart_values()["kafka"]["clusterId"]
    started = read_properties(tmp_path / "first" / "started.properties")
    assert started["node.id"] == "1"
    assert started["advertised.listeners"] == \
        f"BROKER://tradestream-kafka-1.tradestream-kafka-headless.{NAMESPACE}.svc.cluster.local:9092"

    # a restart (new pod, same volume) finds the storage formatted and keeps it
    second = run_start_script(plaintext, tmp_path / "second", data, kafka_home, {})
    assert second.returncode == 0, second.stderr
    assert read_properties(data / "logs" / "meta.properties") == meta


def test_broker_start_script_bootstraps_scram_users_and_a_pkcs8_key_store_without_printing_secrets(
        default_manifests, tmp_path, kafka_home):
    """With the chart's own certificate (Helm's genSignedCert: a PKCS#1 key), start.sh writes the
    PKCS#8 key store Kafka's PEM loader reads; checked with ``cryptography``, not with the script."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    tls = tmp_path / "tls"
    tls.mkdir()
    secret = find(default_manifests, "Secret", "tradestream-kafka-tls")["data"]
    for key, value in secret.items():
        (tls / key).write_bytes(base64.b64decode(value))
    assert (tls / "tls.key").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    passwords = {"KAFKA_INTER_BROKER_PASSWORD": "interBrokerS3cret", "KAFKA_CONTROLLER_PASSWORD": "controllerS3cret",
                 "KAFKA_ADMIN_PASSWORD": "adminS3cret"}
    proc = run_start_script(default_manifests, tmp_path, tmp_path / "data", kafka_home, passwords, tls=tls)

    assert proc.returncode == 0, proc.stderr
    started = tmp_path / "started.properties"
    text = started.read_text()
    assert 'username="kafka-broker" password="interBrokerS3cret"' in text
    assert 'username="controller" password="controllerS3cret" user_controller="controllerS3cret"' in text
    assert oct(started.stat().st_mode & 0o777) == "0o600"
    for secret_value in passwords.values():
        assert secret_value not in proc.stdout + proc.stderr
    store = (tmp_path / "runtime" / "server.pem").read_bytes()
    assert store.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(store, password=None)  # parses the PKCS#8 wrapping
    certificate = x509.load_pem_x509_certificate(store[store.index(b"-----BEGIN CERTIFICATE-----"):])
    assert key.public_key().public_numbers() == certificate.public_key().public_numbers()
    assert oct((tmp_path / "runtime" / "server.pem").stat().st_mode & 0o777) == "0o600"
    assert read_properties(started)["ssl.keystore.location"] == str(tmp_path / "runtime" / "server.pem")


def test_the_access_job_creates_missing_topics_and_updates_existing_ones_on_a_real_broker(render, kafka,
                                                                                         tmp_path):
    """The access Job's own command line and environment (a plaintext cluster: topics only)."""
    run = uuid.uuid4().hex[:6]  # the broker may outlive this session
    topics = {k: f"helm-{run}-{v}" for k, v in
              {"trades": "trades", "candles": "candles", "signals": "signals", "dlq": "trades.dlq"}.items()}
    admin = AdminClient({"bootstrap.servers": kafka.kafka.bootstrap})
    # an existing topic from an earlier release, with another retention: the Job must update it
    existing = NewTopic(topics["trades"], 1, 1, config={"retention.ms": "3600000"})
    admin.create_topics([existing])[topics["trades"]].result(30)
    manifests = render(sets=SINGLE_BROKER + [f"kafka.topics.{k}={v}" for k, v in topics.items()]
                       + ["kafka.retentionHours=48", "kafka.security.protocol=PLAINTEXT"])
    job = find(manifests, "Job", "tradestream-kafka-access")
    args = container(job, "access")["args"]
    settings = find(manifests, "ConfigMap", "tradestream-env")["data"]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRADESTREAM_")}, **settings,
           "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka.kafka.bootstrap, "TRADESTREAM_HOME": str(tmp_path)}

    proc = subprocess.run([sys.executable, *args[1:]], env=env, capture_output=True, text=True, timeout=300,
                          check=False)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics.values()])
    configs = {res.name: future.result(timeout=30) for res, future in described.items()}
    assert configs[topics["trades"]]["retention.ms"].value == str(48 * 3600 * 1000)
    assert configs[topics["candles"]]["retention.ms"].value == str(48 * 3600 * 1000)
    assert configs[topics["dlq"]]["retention.ms"].value == str(720 * 3600 * 1000)
    assert all(c["min.insync.replicas"].value == "1" for c in configs.values())
    partitions = admin.list_topics(timeout=30).topics
    assert len(partitions[topics["candles"]].partitions) == 3  # kafka.partitions
    assert "users and ACLs skipped" in proc.stderr
