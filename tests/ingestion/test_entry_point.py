"""`python -m streaming.ingestion`: the process the stream supervisor and the chart start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.ingestion.kafka_io import decode_trades, read_topic
from tradestream.settings import Settings


def run_module(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streaming.ingestion", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_an_unknown_exchange_fails_before_kafka_naming_the_known_ones(settings: Settings) -> None:
    result = run_module("--mode", "wet", "--exchange", "kraken",
                        env={"TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.returncode == 1
    assert "exchange 'kraken' is not a live exchange" in result.stderr and "coinbase" in result.stderr


def test_an_unknown_mode_is_refused_with_the_choices() -> None:
    result = run_module("--mode", "paper")
    assert result.returncode == 2
    assert "'paper'" in result.stderr and all(f"'{mode}'" in result.stderr for mode in ("dry", "wet", "replay"))


@pytest.mark.e2e
def test_dry_mode_publishes_and_exits_cleanly(topics: Settings) -> None:
    env = {"TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": topics.kafka.bootstrap,
           "TRADESTREAM_KAFKA_TRADES_TOPIC": topics.kafka.trades_topic,
           "TRADESTREAM_KAFKA_DLQ_TOPIC": topics.kafka.dlq_topic,
           "TRADESTREAM_INGEST_DURATION_S": "2", "TRADESTREAM_INGEST_SPEED": "20", "TRADESTREAM_INGEST_RATE": "50"}
    result = run_module("--mode", "dry", "--products", "BTC-USD,ETH-USD", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "final: " in result.stderr
    trades = decode_trades(read_topic(topics, topics.kafka.trades_topic))
    assert trades and {t.currency_pair for t in trades} == {"BTC-USD", "ETH-USD"}
    assert {t.exchange for t in trades} == {"simulator"}
