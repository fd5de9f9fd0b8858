"""Kafka in the chart: KRaft brokers, durability, storage, topics, SASL; the broker start
script and the topics Job are run against Kafka's real tools."""

from __future__ import annotations

import os
import subprocess
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


def test_topics_job_creates_the_platform_topics_with_the_replication_settings(default_manifests):
    job = find(default_manifests, "Job", "tradestream-kafka-topics")
    script = container(job, "topics")["command"][-1]

    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    for topic in ("trades", "candles", "signals", "trades.dlq"):
        assert f'ensure_topic "{topic}"' in script
    assert "--replication-factor 3" in script
    assert "min.insync.replicas=2" in script


def test_sasl_takes_broker_and_client_credentials_from_secrets(render):
    manifests = render(sets=["kafka.sasl.enabled=true"])
    props = broker_properties(manifests)
    brokers = find(manifests, "StatefulSet", "tradestream-kafka")
    env = {e["name"]: e for e in container(brokers, "kafka")["env"]}
    settings = find(manifests, "ConfigMap", "tradestream-env")["data"]

    assert props["listener.security.protocol.map"] == "BROKER:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert env["KAFKA_INTER_BROKER_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "tradestream-kafka-broker"
    assert env["TRADESTREAM_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "tradestream-kafka-client"
    assert settings["TRADESTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    client_secret = find(manifests, "Secret", "tradestream-kafka-client")
    assert set(client_secret["data"]) == {"TRADESTREAM_KAFKA_SASL_USERNAME", "TRADESTREAM_KAFKA_SASL_PASSWORD"}
    # the brokers' volumes remember the SCRAM users, so the passwords must outlive an uninstall
    for secret in of_kind(manifests, "Secret"):
        assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


# ------------------------------------------------------------------ the scripts, for real


@pytest.fixture(scope="session")
def kafka_home() -> Path:
    return kafka_tools_home(str(chart_values()["kafka"]["image"]["tag"]))


def run_start_script(manifests, workdir: Path, data: Path, kafka_home: Path,
                     env: dict[str, str]) -> subprocess.CompletedProcess:
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
                "LOG_DIR": str(workdir / "logs"), **env}
    full_env.pop("KAFKA_LOG4J_OPTS", None)
    return subprocess.run(["bash", str(template / "start.sh")], env=full_env, capture_output=True, text=True,
                          timeout=180, check=False)


def read_properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return dict(pairs)


def test_broker_start_script_formats_storage_once_with_kafkas_storage_tool(default_manifests, tmp_path, kafka_home):
    data = tmp_path / "data"
    first = run_start_script(default_manifests, tmp_path / "first", data, kafka_home, {})

    assert first.returncode == 0, first.stderr
    meta = read_properties(data / "logs" / "meta.properties")
    assert meta["node.id"] == "1"
    assert meta["cluster.id"] == chart_values()["kafka"]["clusterId"]
    started = read_properties(tmp_path / "first" / "started.properties")
    assert started["node.id"] == "1"
    assert started["advertised.listeners"] == \
        f"BROKER://tradestream-kafka-1.tradestream-kafka-headless.{NAMESPACE}.svc.cluster.local:9092"

    # a restart (new pod, same volume) finds the storage formatted and keeps it
    second = run_start_script(default_manifests, tmp_path / "second", data, kafka_home, {})
    assert second.returncode == 0, second.stderr
    assert read_properties(data / "logs" / "meta.properties") == meta


def test_broker_start_script_bootstraps_scram_users_without_printing_passwords(render, tmp_path, kafka_home):
    passwords = {"KAFKA_INTER_BROKER_PASSWORD": "interBrokerS3cret", "TRADESTREAM_KAFKA_SASL_PASSWORD": "clientS3cret"}
    users = {"KAFKA_INTER_BROKER_USERNAME": "kafka-broker", "TRADESTREAM_KAFKA_SASL_USERNAME": "tradestream"}
    proc = run_start_script(render(sets=["kafka.sasl.enabled=true"]), tmp_path, tmp_path / "data", kafka_home,
                            {**users, **passwords})

    assert proc.returncode == 0, proc.stderr
    started = tmp_path / "started.properties"
    assert 'username="kafka-broker" password="interBrokerS3cret"' in started.read_text()
    assert oct(started.stat().st_mode & 0o777) == "0o600"
    for secret in passwords.values():
        assert secret not in proc.stdout + proc.stderr


def test_topics_job_creates_missing_topics_and_updates_existing_ones_on_a_real_broker(render, kafka, kafka_home,
                                                                                       tmp_path):
    run = uuid.uuid4().hex[:6]  # the broker may outlive this session
    topics = {k: f"helm-{run}-{v}" for k, v in
              {"trades": "trades", "candles": "candles", "signals": "signals", "dlq": "trades.dlq"}.items()}
    admin = AdminClient({"bootstrap.servers": kafka.kafka.bootstrap})
    # an existing topic from an earlier release, with another retention: the Job must update it
    existing = NewTopic(topics["trades"], 1, 1, config={"retention.ms": "3600000"})
    admin.create_topics([existing])[topics["trades"]].result(30)
    manifests = render(sets=SINGLE_BROKER + [f"kafka.topics.{k}={v}" for k, v in topics.items()]
                       + ["kafka.retentionHours=48"])
    job = find(manifests, "Job", "tradestream-kafka-topics")
    script = container(job, "topics")["command"][-1]
    settings = find(manifests, "ConfigMap", "tradestream-env")["data"]
    env = {**os.environ, **settings, "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka.kafka.bootstrap,
           "KAFKA_HOME": str(kafka_home), "TMPDIR": str(tmp_path)}

    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics.values()])
    configs = {res.name: future.result(timeout=30) for res, future in described.items()}
    assert configs[topics["trades"]]["retention.ms"].value == str(48 * 3600 * 1000)
    assert configs[topics["candles"]]["retention.ms"].value == str(48 * 3600 * 1000)
    assert configs[topics["dlq"]]["retention.ms"].value == str(720 * 3600 * 1000)
    assert all(c["min.insync.replicas"].value == "1" for c in configs.values())
    partitions = admin.list_topics(timeout=30).topics
    assert len(partitions[topics["candles"]].partitions) == 3  # kafka.partitions
