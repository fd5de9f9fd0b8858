"""A broker SIGKILLed under load in a 3-broker KRaft cluster (topics RF 3, min ISR 2), then
restarted: every trade the ingestion service saw acknowledged is on the topic exactly once, and
the broker is back in every partition's ISR.

The count on the topic is read independently of the producer (a bounded read of every
partition from the start); "acknowledged" is the ingestion service's own final count, and its
exit code 0 says nothing it took in was left unacknowledged.
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
from datetime import UTC, datetime
from pathlib import Path

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
RUN_S = 60           # ingestion runs this long (the broker is killed and restarted within it)
KILL_AT_S = 10       # after the start of ingestion
DOWN_S = 10          # the broker stays dead this long
VICTIM = 1           # broker node killed (node 0 holds nothing special either)


def full_isr(admin: AdminClient, topic: str) -> bool:
    md = admin.list_topics(topic, timeout=10)
    return all(len(p.isrs) == 3 for p in md.topics[topic].partitions.values())


def decode(_key: bytes | None, value: bytes | None) -> tuple[str, str]:
    trade = market_pb2.Trade.FromString(value or b"")
    return trade.currency_pair, trade.trade_id


def test_a_killed_broker_loses_no_acknowledged_trade_and_rejoins_the_isr(tmp_path, artifacts_dir):
    base = int(os.environ.get("TRADESTREAM_KAFKA_PORT", "19092")) + 300  # beside the session broker
    settings = make_settings(tmp_path, kafka=KafkaSettings(port=base, controller_port=base + 1,
                                                           topic_replication=3, topic_min_insync_replicas=2,
                                                           trades_topic="trades-fault", dlq_topic="trades-fault.dlq"))
    cluster = LocalKafka(settings)
    cluster.start(brokers=3)
    try:
        bootstrap = cluster.bootstrap(3)
        env = {**os.environ, "TRADESTREAM_HOME": str(tmp_path), "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
               "TRADESTREAM_KAFKA_TOPIC_REPLICATION": "3", "TRADESTREAM_KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "2",
               "TRADESTREAM_KAFKA_TRADES_TOPIC": "trades-fault", "TRADESTREAM_KAFKA_DLQ_TOPIC": "trades-fault.dlq",
               "TRADESTREAM_INGEST_DUPLICATE_RATE": "0"}
        log_path = artifacts_dir / "fault-broker-killed-ingestion.log"
        started = time.monotonic()
        with open(log_path, "w") as log:
            ingestion = subprocess.Popen(
                [sys.executable, "-m", "tradestream_cli.main", "ingest", "--mode", "dry", "--rate", str(RATE),
                 "--duration", str(RUN_S), "--log-every", "5"], env=env, cwd=REPO, stdout=log,
                stderr=subprocess.STDOUT)
            time.sleep(KILL_AT_S)
            victim_pid = cluster.pids()[VICTIM]
            os.kill(victim_pid, signal.SIGKILL)
            killed_at = time.monotonic()
            time.sleep(DOWN_S)
            restart_called = time.monotonic()
            cluster.start(brokers=3)  # restarts the missing node only, returns once it answers
            restarted_at = time.monotonic()
            admin = AdminClient({"bootstrap.servers": bootstrap})
            while not full_isr(admin, "trades-fault"):
                assert time.monotonic() - restarted_at < 120, "the restarted broker did not rejoin every ISR in 120 s"
                time.sleep(0.5)
            back_in_isr_at = time.monotonic()
            exit_code = ingestion.wait(RUN_S + 120)
        output = log_path.read_text()
        assert exit_code == 0, f"ingestion did not end clean (exit {exit_code}); log {log_path}:\n{output[-3000:]}"
        final = re.search(r"final: received=(\d+) .*?published=(\d+) .*?delivery_failed=(\d+)", output)
        assert final, f"no final summary line in {log_path}"
        received, acknowledged, failed = map(int, final.groups())


        kafka = KafkaClientConfig.from_settings(settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}))
        everything = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        read = read_time_range(kafka, "trades-fault", *everything, decode, timeout_s=180)
        on_topic = collections.Counter(read.records)
        duplicates = sum(n - 1 for n in on_topic.values() if n > 1)
        figures = {"fault": "broker SIGKILLed (3 brokers, RF 3, min ISR 2)", "offered_rate": RATE,
                   "received": received, "acknowledged": acknowledged, "delivery_failed": failed,
                   "on_topic": sum(on_topic.values()), "lost": max(acknowledged - len(on_topic), 0),
                   "duplicated": duplicates, "dead_s": round(restart_called - killed_at, 1),
                   "restart_s": round(restarted_at - restart_called, 1),
                   "back_in_isr_s": round(back_in_isr_at - restarted_at, 1),
                   "run_s": round(time.monotonic() - started, 1), "load1": round(os.getloadavg()[0], 1)}
        with open(artifacts_dir / "faults.jsonl", "a") as out:
            out.write(json.dumps(figures) + "\n")
        assert acknowledged == received > RATE * 10, figures
        assert len(on_topic) == acknowledged and duplicates == 0, figures
        assert read.undecodable == 0
    finally:
        cluster.stop()
