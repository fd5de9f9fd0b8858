"""The platform's topics on the configured cluster: is it reachable, and do trades, candles,
signals, trades.dlq and the execution stream's topics exist with their retention.

Three topics hold state rather than a history, and are compacted (the latest record per key
stays): ``risk.commands`` (the kill switch: a halt survives any restart), ``execution.state``
(each account's risk state) and ``execution.snapshots`` (the executor's state, written in
every transaction). The commands and the snapshots have one partition: a halt of one account
and a resume of all must keep their order, and the executor reads its one snapshot key.

Runs against whatever cluster the settings name (the local broker, or a secured one in
Kubernetes), so its admin client comes from ``KafkaClientConfig`` like every other client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from streaming.kafka.clients import KafkaClientConfig
from tradestream.runtime.kafka import KafkaRuntimeError
from tradestream.settings import Settings

# refused connections while a broker boots are expected here; tradestream.runtime.kafka keeps them quiet
_rdkafka_log = logging.getLogger("tradestream.rdkafka")


def admin_client(settings: Settings) -> AdminClient:
    return KafkaClientConfig.from_settings(settings.kafka).admin({"socket.timeout.ms": 3000, "logger": _rdkafka_log})


def require_reachable(settings: Settings, timeout: float = 5.0) -> None:
    """Raise KafkaRuntimeError naming the bootstrap address when no broker answers."""
    try:
        md = admin_client(settings).list_topics(timeout=timeout)
        if not md.brokers:
            raise KafkaException("no brokers")
    except KafkaException as exc:
        raise KafkaRuntimeError(
            f"no Kafka broker answers at {settings.kafka.bootstrap} ({exc.args[0] if exc.args else exc}); "
            "start one with `tradestream kafka start` or set TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS") from None


#: Largest executor snapshot (zlib-compressed JSON); librdkafka's and the broker's default is 1 MB.
SNAPSHOT_MAX_BYTES = 16 * 1024 * 1024


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    k = settings.kafka
    hours = k.dlq_retention_hours if topic == k.dlq_topic else k.retention_hours
    cfg = {"retention.ms": str(hours * 3600 * 1000), "min.insync.replicas": str(k.topic_min_insync_replicas),
           "compression.type": "producer"}
    if topic == k.candles_topic:
        # candles are upserted by key downstream; keep history (time retention) rather than compacting
        cfg["cleanup.policy"] = "delete"
    if topic in k.compacted_topics:
        # compaction only cleans closed segments: roll them every 10 minutes so old states go away
        cfg = {"cleanup.policy": "compact", "min.insync.replicas": str(k.topic_min_insync_replicas),
               "compression.type": "producer", "segment.ms": str(600_000), "min.cleanable.dirty.ratio": "0.1"}
    if topic == k.execution_snapshots_topic:
        cfg["max.message.bytes"] = str(SNAPSHOT_MAX_BYTES)
    return cfg


def topic_partitions(settings: Settings, topic: str) -> int:
    return 1 if topic in settings.kafka.single_partition_topics else settings.kafka.topic_partitions


def ensure_topics(settings: Settings, timeout: float = 30.0, topics: Iterable[str] | None = None, *,
                  reconcile: bool = False) -> dict[str, str]:
    """Create ``topics`` (default: the platform's, ``KafkaSettings.topics``) if missing. Returns
    {topic: "created"|"exists"|"updated"}. ``reconcile`` re-applies the configuration (retention,
    min ISR) to topics that exist, so a changed setting reaches them (the chart's access Job).

    On a secured cluster a component sees (and needs) only its own topics, and only the admin
    user may create one: a component passes the topics it uses, and a missing one it may not
    create is an error naming the user and what to run."""
    require_reachable(settings)
    k = settings.kafka
    wanted = tuple(topics) if topics is not None else k.topics
    admin = admin_client(settings)
    existing = set(admin.list_topics(timeout=10).topics)
    result: dict[str, str] = {}
    new = []
    for topic in wanted:
        if topic in existing:
            result[topic] = "exists"
        else:
            new.append(NewTopic(topic, num_partitions=topic_partitions(settings, topic),
                                replication_factor=k.topic_replication,
                                config=topic_configs(settings, topic)))
    if new:
        for topic, fut in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                fut.result(timeout)
                result[topic] = "created"
            except KafkaException as exc:
                err = exc.args[0]
                code = getattr(err, "name", lambda: "")()
                if code == "TOPIC_ALREADY_EXISTS" or "already exists" in str(err):
                    result[topic] = "exists"
                elif code in ("TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED"):
                    raise KafkaRuntimeError(
                        f"topic {topic!r} does not exist (or user {k.sasl_username!r} may not see it) and that user "
                        f"may not create it at {k.bootstrap}; create the platform's topics and ACLs as the admin "
                        "(`tradestream kafka start --security sasl_ssl` locally, the chart's access Job on "
                        "Kubernetes: python -m streaming.kafka.access apply)") from None
                else:
                    raise KafkaRuntimeError(f"creating topic {topic!r} failed: {err}") from None
    if reconcile:
        existing_now = [t for t, state in result.items() if state == "exists"]
        if existing_now:
            resources = [ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
                ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
                for name, value in topic_configs(settings, topic).items()]) for topic in existing_now]
            for resource, fut in admin.incremental_alter_configs(resources).items():
                try:
                    fut.result(timeout)
                except KafkaException as exc:
                    raise KafkaRuntimeError(f"updating the configuration of topic {resource.name!r} failed: "
                                            f"{exc.args[0]}") from None
                result[resource.name] = "updated"
    return result
