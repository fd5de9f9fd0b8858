"""Kafka faults under load, on a local 3-broker KRaft cluster (topics RF 3, min ISR 2), while the
dry ingestion service publishes about 2000 trades/s:

- one broker SIGKILLed, then restarted: every acknowledged trade on the topic exactly once, the
  broker back in every partition's ISR;
- every broker SIGKILLed for a while (Kafka unreachable), then restarted: ingestion buffers
  within its producer queue's bound, says what is wrong, recovers by itself, and nothing it saw
  acknowledged is lost or doubled.

The count on the topic is read independently of the producer (a bounded read of every
partition from the start); "acknowledged" is the ingestion service's own final count, and its
exit code 0 says nothing it took in was left unacknowledged. Each case appends its figures to
``test-artifacts/faults.jsonl`` (docs/reliability.md has the table).
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from confluent_kafka.admin import AdminClient

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import read_time_range
from tests.conftest import make_settings
from tradestream.runtime.kafka import LocalKafka
from tradestream.settings import KafkaSettings
from tradestream.v1 import market_pb2

pytestmark = [pytest.mark.services, pytest.mark.faults]

REPO = Path(__file__).resolve().parents[2]
RATE = 2000          # trades/s the simulator offers
RUN_S = 60           # ingestion runs this long; each fault is injected and healed within it
FAULT_AT_S = 10      # after the start of ingestion
DEAD_S = 15          # how long the killed broker(s) stay dead before the restart is asked for
RSS_BOUND = 1 << 30  # ingestion's memory while Kafka is away: its producer queue is bounded


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> LocalKafka:
    home = tmp_path_factory.mktemp("faults-kafka")
    base = int(os.environ.get("TRADESTREAM_KAFKA_PORT", "19092")) + 300  # beside the session broker
    settings = make_settings(home, kafka=KafkaSettings(port=base, controller_port=base + 1, topic_replication=3,
                                                       topic_min_insync_replicas=2))
    broker = LocalKafka(settings)
    broker.start(brokers=3)
    yield broker
    broker.stop()


def full_isr(admin: AdminClient, topic: str) -> bool:
    md = admin.list_topics(topic, timeout=10)
    partitions = md.topics[topic].partitions.values()
    return bool(partitions) and all(len(p.isrs) == 3 for p in partitions)


def decode(_key: bytes | None, value: bytes | None) -> tuple[str, str]:
    trade = market_pb2.Trade.FromString(value or b"")
    return trade.currency_pair, trade.trade_id


def run_with_fault(cluster: LocalKafka, topic: str, artifacts: Path, inject: Callable[[], dict]) -> dict:
    """Dry ingestion into ``topic`` for RUN_S seconds, ``inject()`` called at FAULT_AT_S; returns the
    figures (what ``inject`` measured, what ingestion acknowledged, what the topic holds)."""
    bootstrap = cluster.bootstrap(3)
    env = {**os.environ, "TRADESTREAM_HOME": str(cluster.settings.paths.home),
           "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "TRADESTREAM_KAFKA_TOPIC_REPLICATION": "3",
           "TRADESTREAM_KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2", "TRADESTREAM_KAFKA_TRADES_TOPIC": topic,
           "TRADESTREAM_KAFKA_DLQ_TOPIC": f"{topic}.dlq", "TRADESTREAM_INGEST_DUPLICATE_RATE": "0"}
    log_path = artifacts / f"fault-{topic}-ingestion.log"
    with open(log_path, "w") as log:
        ingestion = subprocess.Popen(
            [sys.executable, "-m", "tradestream_cli.main", "ingest", "--mode", "dry", "--rate", str(RATE),
             "--duration", str(RUN_S), "--log-every", "5"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(FAULT_AT_S)
        figures = inject()
        peak_rss = psutil.Process(ingestion.pid).memory_info().rss
        while ingestion.poll() is None:
            peak_rss = max(peak_rss, psutil.Process(ingestion.pid).memory_info().rss)
            time.sleep(1)
        exit_code = ingestion.wait(RUN_S + 120)
    output = log_path.read_text()
    assert exit_code == 0, f"ingestion did not end clean (exit {exit_code}); log {log_path}:\n{output[-3000:]}"
    final = re.search(r"final: received=(\d+) .*?published=(\d+) .*?delivery_failed=(\d+)", output)
    assert final, f"no final summary line in {log_path}"
    received, acknowledged, failed = map(int, final.groups())

    kafka = KafkaClientConfig.from_settings(cluster.settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}))
    everything = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    read = read_time_range(kafka, topic, *everything, decode, timeout_s=180)
    on_topic = collections.Counter(read.records)
    figures |= {"offered_rate": RATE, "received": received, "acknowledged": acknowledged,
                "delivery_failed": failed, "on_topic": sum(on_topic.values()),
                "lost": max(acknowledged - len(on_topic), 0),
                "duplicated": sum(n - 1 for n in on_topic.values() if n > 1),
                "peak_rss_mb": round(peak_rss / 2**20), "load1": round(os.getloadavg()[0], 1), "log": output}
    assert read.undecodable == 0
    return figures


def record(artifacts: Path, figures: dict) -> None:
    with open(artifacts / "faults.jsonl", "a") as out:
        out.write(json.dumps({k: v for k, v in figures.items() if k != "log"}) + "\n")


def test_a_killed_broker_loses_no_acknowledged_trade_and_rejoins_the_isr(cluster, artifacts_dir):
    topic = "trades-broker-killed"

    def kill_one_and_restart() -> dict:
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap(3)})
        killed_at = time.monotonic()
        os.kill(cluster.pids()[1], signal.SIGKILL)
        time.sleep(DEAD_S)
        restart_called = time.monotonic()
        cluster.start(brokers=3)  # restarts the missing node only, returns once it answers
        restarted_at = time.monotonic()
        while not full_isr(admin, topic):
            assert time.monotonic() - restarted_at < 120, "the restarted broker did not rejoin every ISR in 120 s"
            time.sleep(0.5)
        return {"fault": "one broker SIGKILLed", "dead_s": round(restart_called - killed_at, 1),
                "restart_s": round(restarted_at - restart_called, 1),
                "back_in_isr_s": round(time.monotonic() - restarted_at, 1)}

    figures = run_with_fault(cluster, topic, artifacts_dir, kill_one_and_restart)
    record(artifacts_dir, figures)
    assert figures["acknowledged"] == figures["received"] > RATE * 10, figures
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["on_topic"] == figures["acknowledged"], figures


def test_kafka_unreachable_ingestion_buffers_says_so_and_loses_nothing(cluster, artifacts_dir):
    topic = "trades-kafka-away"

    def kill_all_and_restart() -> dict:
        killed_at = time.monotonic()
        for pid in cluster.pids().values():
            os.kill(pid, signal.SIGKILL)
        time.sleep(DEAD_S)
        restart_called = time.monotonic()
        cluster.start(brokers=3)
        return {"fault": "every broker SIGKILLed (Kafka unreachable)", "dead_s": round(restart_called - killed_at, 1),
                "restart_s": round(time.monotonic() - restart_called, 1)}

    figures = run_with_fault(cluster, topic, artifacts_dir, kill_all_and_restart)
    record(artifacts_dir, figures)
    assert figures["acknowledged"] == figures["received"] > RATE * 10, figures
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["on_topic"] == figures["acknowledged"], figures
    assert figures["peak_rss_mb"] < RSS_BOUND / 2**20, figures
    # what is wrong, in the service's own log (librdkafka's error callback, logged by the publisher)
    assert re.search(r"Kafka producer: .*(brokers are down|Connection refused)", figures["log"]), figures["log"][-2000:]
