"""The platform end to end over SASL_SSL, each component as its own user, and what the ACLs refuse.

The cluster is started as a user starts it (``tradestream kafka start --security sasl_ssl``:
TLS from a generated CA, SCRAM-SHA-512, StandardAuthorizer). Ingestion and the candle job
run as processes (their module entry points, as the supervisors start them) with only
their own credentials in the environment; the warehouse reads through
``KafkaClientConfig`` with its own. The candles are compared with the DuckDB SQL reference
over the trades the warehouse read.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from pydantic import SecretStr

from streaming.candles.reader import CandleReader
from streaming.kafka.access import component_access, user_name
from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import read_time_range
from streaming.kafka.topics import ensure_topics
from tests.kafka.conftest import component_settings
from tradestream.candles.codec import decode_trade
from tradestream.candles.reference import diff_candles, reference_candles_for_ticks
from tradestream.runtime.kafka import KafkaRuntimeError, LocalKafka
from tradestream.timeframes import MINUTE_NS

REPO = Path(__file__).resolve().parents[2]
INGEST_SECONDS = 20
SPEED = 30  # ten minutes of simulated market in twenty seconds


def process_env(broker: LocalKafka, component: str, home: Path, **extra: str) -> dict[str, str]:
    """os.environ without any Kafka credentials, plus ``component``'s own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADESTREAM_KAFKA_")}
    return {**env, **broker.client_env(user_name(component)), "TRADESTREAM_HOME": str(home), **extra}


def deliver(kafka: KafkaClientConfig, topic: str) -> KafkaError | None:
    """Produce one record to ``topic``; the delivery error, or None when the broker took it. (Not
    idempotent: a principal allowed to write nothing at all is refused a producer id before any topic.)"""
    producer = kafka.producer({"enable.idempotence": False, "acks": "all", "message.timeout.ms": 15000})
    outcome: list = []
    producer.produce(topic, key=b"k", value=b"v", on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(20)
    assert outcome, f"no delivery report for {topic} within 20 s"
    return outcome[0]


def test_ingestion_candle_job_and_warehouse_run_over_sasl_ssl_each_as_its_own_user(secured_kafka: LocalKafka,
                                                                                 tmp_path: Path,
                                                                                 artifacts_dir: Path):
    started = datetime.now(UTC) - timedelta(minutes=1)
    job_name = f"secured-{uuid.uuid4().hex[:6]}"
    log_path = artifacts_dir / f"{job_name}.log"
    with open(log_path, "w") as log:
        job = subprocess.Popen([sys.executable, "-m", "streaming.candles", "--mode", "stream", "--job-name", job_name,
                                "--checkpoint-interval-ms", "5000"],
                               env=process_env(secured_kafka, "candles", tmp_path), cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ingest = subprocess.run(
            [sys.executable, "-m", "streaming.ingestion", "--mode", "dry", "--products", "BTC-USD,ETH-USD"],
            env=process_env(secured_kafka, "ingestion", tmp_path, TRADESTREAM_INGEST_DURATION_S=str(INGEST_SECONDS),
                            TRADESTREAM_INGEST_SPEED=str(SPEED), TRADESTREAM_INGEST_RATE="4",
                            TRADESTREAM_INGEST_LATE_RATE="0"),
            cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr

        warehouse = KafkaClientConfig.from_settings(component_settings(secured_kafka, "warehouse").kafka)
        topics = secured_kafka.k
        trades = read_time_range(warehouse, topics.trades_topic, started, datetime.now(UTC) + timedelta(minutes=1),
                                 lambda _key, value: decode_trade(value))
        assert trades.undecodable == 0 and len(trades.records) > 100, trades
        # every closed minute before the last traded one; the newest is still open at the job
        last_minute = max(t.event_ns for t in trades.records) // MINUTE_NS * MINUTE_NS
        expected = reference_candles_for_ticks(trades.records, timeframes=["1m"], until_ns=last_minute,
                                               fill_cap_s=24 * 3600)
        assert len(expected) >= 2 * 8

        with CandleReader(warehouse, topics.candles_topic) as reader:
            def caught_up(snapshot) -> bool:
                assert job.poll() is None, f"the candle job died; log {log_path}"
                got = [c for c in snapshot.final.values() if c.timeframe == "1m" and c.window_end_ns <= last_minute]
                return not diff_candles(got, expected)

            if not reader.wait_for(caught_up, 300):
                got = [c for c in reader.snapshot.final.values() if c.timeframe == "1m"]
                problems = diff_candles([c for c in got if c.window_end_ns <= last_minute], expected, limit=8)
                pytest.fail(f"candles over SASL_SSL differ from the SQL reference (log {log_path}):\n"
                            + "\n".join(problems))
    finally:
        os.killpg(job.pid, 9)
        job.wait(30)


@pytest.mark.parametrize(("component", "topic_field"), [
    ("ingestion", "candles_topic"),      # ingestion writes trades and dead letters only
    ("candles", "signals_topic"),        # the candle job writes candles and dead letters
    ("signals", "trades_topic"),         # the signal job writes signals and dead letters
    ("warehouse", "trades_topic"),       # the warehouse reads
    ("kafka-ui", "trades_topic"),        # Kafka UI is read-only
])
def test_a_component_cannot_write_a_topic_it_has_no_acl_for(secured_kafka: LocalKafka, component: str,
                                                            topic_field: str):
    settings = component_settings(secured_kafka, component)
    topic = getattr(settings.kafka, topic_field)
    assert not component_access(settings)[component].allows("topic", topic, "WRITE")

    error = deliver(KafkaClientConfig.from_settings(settings.kafka), topic)

    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


def test_a_component_writes_the_topics_it_has_an_acl_for(secured_kafka: LocalKafka):
    settings = component_settings(secured_kafka, "ingestion")
    kafka = KafkaClientConfig.from_settings(settings.kafka)
    assert deliver(kafka, settings.kafka.dlq_topic) is None


def connection_errors(kafka: KafkaClientConfig) -> list[KafkaError]:
    """What librdkafka reports while trying to list the topics (nothing when it succeeds)."""
    errors: list[KafkaError] = []
    admin = kafka.admin({"socket.timeout.ms": 3000, "error_cb": errors.append})
    try:
        admin.list_topics(timeout=8)
    except KafkaException:
        pass
    admin.poll(1)  # error callbacks are served by poll
    return errors


def test_a_wrong_password_is_refused(secured_kafka: LocalKafka):
    settings = component_settings(secured_kafka, "ingestion")
    wrong = settings.kafka.model_copy(update={"sasl_password": SecretStr("not-the-password")})
    errors = connection_errors(KafkaClientConfig.from_settings(wrong))
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors


def test_a_component_cannot_create_topics_and_says_who_can(secured_kafka: LocalKafka):
    settings = component_settings(secured_kafka, "ingestion")
    refused = r"user 'tradestream-ingestion' may not see it\) and that user may not create it .*streaming.kafka.access"
    with pytest.raises(KafkaRuntimeError, match=refused):
        ensure_topics(settings, topics=[f"not-there-{uuid.uuid4().hex[:6]}"])
    # its own topics exist and are visible to it
    assert set(ensure_topics(settings, topics=[settings.kafka.trades_topic]).values()) == {"exists"}


def test_clients_check_the_brokers_certificate(secured_kafka: LocalKafka, tmp_path: Path):
    from tradestream.runtime.certificates import issue_certificates

    settings = component_settings(secured_kafka, "warehouse")
    assert connection_errors(KafkaClientConfig.from_settings(settings.kafka)) == []
    other_ca = issue_certificates(tmp_path / "other", ["127.0.0.1"]).ca  # a CA that did not sign the broker's
    forged = settings.kafka.model_copy(update={"ssl_ca_location": other_ca})
    errors = connection_errors(KafkaClientConfig.from_settings(forged))
    assert any(e.code() == KafkaError._SSL and "certificate verify failed" in e.str() for e in errors), errors


def test_access_is_applied_idempotently(secured_kafka: LocalKafka):
    from streaming.kafka.access import apply_access

    admin = KafkaClientConfig.from_settings(secured_kafka.admin_settings())
    principals = component_access(secured_kafka.settings)
    report = apply_access(admin, principals.values(), {})
    assert report.acls_added == 0 and report.acls_present > 0 and report.users == []
