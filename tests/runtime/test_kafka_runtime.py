"""The local Apache Kafka runtime: a real KRaft broker started from Maven Central jars."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psutil
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource
from google.protobuf.timestamp_pb2 import Timestamp

from streaming.kafka.topics import ensure_topics, require_reachable
from tests.conftest import make_settings
from tradestream.runtime.kafka import AlreadyRunning, KafkaRuntimeError, LocalKafka
from tradestream.settings import KafkaSettings
from tradestream.v1 import market_pb2


def test_broker_process_runs_apache_kafka_main_class(kafka):
    pids = LocalKafka(kafka).pids()
    assert pids, "no broker pid recorded"
    cmdline = psutil.Process(pids[0]).cmdline()
    assert "kafka.Kafka" in cmdline
    assert any(part.endswith("server.properties") for part in cmdline)


def test_topics_are_created_once_with_settings_partitions_and_retention(kafka):
    again = ensure_topics(kafka)
    # the platform's topics, by hand: the data flow's four and the execution stream's seven
    single = {"risk.commands", "execution.snapshots"}  # one total order each (docs/execution.md)
    platform = {"trades", "candles", "signals", "trades.dlq", "orders", "fills", "positions", "risk.events",
                "execution.state", *single}
    assert again == {t: "exists" for t in platform}
    admin = AdminClient({"bootstrap.servers": kafka.kafka.bootstrap})
    md = admin.list_topics(timeout=10)
    for topic in platform:
        want = 1 if topic in single else kafka.kafka.topic_partitions
        assert len(md.topics[topic].partitions) == want, topic
    res = ConfigResource(ConfigResource.Type.TOPIC, "trades.dlq")
    configs = admin.describe_configs([res])[res].result(10)
    assert configs["retention.ms"].value == str(kafka.kafka.dlq_retention_hours * 3600 * 1000)


def test_protobuf_trade_round_trips_through_produce_and_consume(kafka):
    trade = market_pb2.Trade(exchange="coinbase", currency_pair="BTC-USD", trade_id=str(uuid.uuid4()),
                              price=97_123.45, size=0.0125, taker_side=market_pb2.TAKER_SIDE_BUY,
                              event_time=Timestamp(seconds=1_790_000_000, nanos=123_000_000),
                              ingest_time=Timestamp(seconds=1_790_000_001))
    producer = Producer({"bootstrap.servers": kafka.kafka.bootstrap, "enable.idempotence": True, "acks": "all"})
    delivered = []
    producer.produce("trades", key=b"BTC-USD", value=trade.SerializeToString(),
                     on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
    producer.flush(10)
    (err, partition, offset), = delivered
    assert err is None
    consumer = Consumer({"bootstrap.servers": kafka.kafka.bootstrap, "group.id": f"t-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition("trades", partition, offset)])
    msg = consumer.poll(15)
    consumer.close()
    assert msg is not None and msg.error() is None
    assert msg.key() == b"BTC-USD"
    back = market_pb2.Trade.FromString(msg.value())
    assert back == trade


def test_second_start_reports_already_running_and_status_lists_brokers(kafka):
    broker = LocalKafka(kafka)
    with pytest.raises(AlreadyRunning, match="already running"):
        broker.start()
    status = broker.status()
    assert status.running and status.broker_ids == [0] and status.version == kafka.kafka.version
    assert set(kafka.kafka.topics) <= set(status.topics)


def test_cli_start_twice_says_already_running(kafka):
    out = subprocess.run([sys.executable, "-m", "tradestream_cli.main", "kafka", "start"], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "200"}, timeout=60)
    assert out.returncode == 0
    assert "already running" in out.stdout


@pytest.mark.services  # starts its own three brokers
def test_three_broker_cluster_forms_and_holds_a_replication_factor_3_topic(tmp_path):
    s = make_settings(tmp_path, kafka=KafkaSettings(port=19192, controller_port=19193))
    cluster = LocalKafka(s)
    try:
        status = cluster.start(brokers=3)
        assert status.broker_ids == [0, 1, 2]
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap(3)})
        from confluent_kafka.admin import NewTopic

        admin.create_topics([NewTopic("replicated", num_partitions=3, replication_factor=3,
                                      config={"min.insync.replicas": "2"})])["replicated"].result(30)
        md = admin.list_topics("replicated", timeout=10)
        for part in md.topics["replicated"].partitions.values():
            assert sorted(part.replicas) == [0, 1, 2]
            assert len(part.isrs) == 3
    finally:
        stopped = cluster.stop()
    assert len(stopped) == 3
    assert not cluster.running


def test_start_fails_naming_the_process_that_holds_the_port(tmp_path, kafka):
    # the session broker already holds its port: a second home on the same port must not start
    s = make_settings(tmp_path / "other")
    with pytest.raises(Exception, match=rf"port {kafka.kafka.port} .* in use by pid \d+ \(java\)"):
        LocalKafka(s).start()
    assert not LocalKafka(s).running


def test_unreachable_broker_gives_one_line_error_naming_the_address(tmp_path):
    s = make_settings(tmp_path, kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    with pytest.raises(KafkaRuntimeError, match=r"no Kafka broker answers at 127\.0\.0\.1:1"):
        require_reachable(s, timeout=2)


def test_cli_topics_create_against_unreachable_broker_exits_nonzero(tmp_path):
    env = {**os.environ, "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "tradestream_cli.main", "topics", "create"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert "no Kafka broker answers at 127.0.0.1:1" in out.stderr
