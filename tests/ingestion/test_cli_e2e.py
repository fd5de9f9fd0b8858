"""`tradestream ingest` as a child process, stopped by SIGTERM (the supervisor's `python -m streaming.ingestion`
runs the same code: test_entry_point.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from tests.ingestion.kafka_io import decode_trades, read_topic
from tradestream.settings import Settings

CLI = str(Path(sys.executable).parent / "tradestream")


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap,
        "TRADESTREAM_KAFKA_TRADES_TOPIC": settings.kafka.trades_topic,
        "TRADESTREAM_KAFKA_DLQ_TOPIC": settings.kafka.dlq_topic,
        # Clean feed: every id must appear exactly once.
        "TRADESTREAM_INGEST_OUT_OF_ORDER_RATE": "0", "TRADESTREAM_INGEST_LATE_RATE": "0",
        "TRADESTREAM_INGEST_DUPLICATE_RATE": "0",
    })
    env.update(extra)
    return env


def final_counts(stderr: str) -> dict[str, int]:
    line = next(line for line in stderr.splitlines() if "final: " in line)
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)(?=[ \s(]|$)", line.split("final: ", 1)[1])}


@pytest.mark.e2e
def test_sigterm_mid_run_leaves_every_acknowledged_trade_in_kafka_exactly_once(topics: Settings) -> None:
    process = subprocess.Popen(
        [CLI, "ingest", "--mode", "dry", "--rate", "200", "--speed", "inf", "--log-every", "0.5"],
        env=cli_env(topics), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Let it publish at full speed for a while, then stop it mid-stream.
        deadline = time.monotonic() + 60
        stderr_lines = []
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            stderr_lines.append(line)
            match = re.search(r"published=(\d+)", line)
            if match and int(match.group(1)) > 20_000:
                break
        process.send_signal(signal.SIGTERM)
        stdout, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = "".join(stderr_lines) + rest
    assert process.returncode == 0, stderr[-3000:]
    assert "stopping (SIGTERM)" in stderr
    assert "stopped by SIGTERM" in stdout
    counts = final_counts(stderr)
    assert counts["published"] > 20_000
    assert counts["received"] == counts["published"]

    trades = decode_trades(read_topic(topics, topics.kafka.trades_topic, timeout_s=120))
    assert len(trades) == counts["published"]
    ids_by_pair: dict[str, list[int]] = defaultdict(list)
    for trade in trades:
        ids_by_pair[trade.currency_pair].append(int(trade.trade_id.rsplit("-", 1)[1]))
    for pair, numbers in ids_by_pair.items():
        # The simulator numbers each pair's trades 1, 2, 3...: a hole is a lost trade, a repeat a duplicate.
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), pair
        assert numbers == sorted(numbers), f"{pair}: Kafka order differs from publish order"
    assert len(ids_by_pair) == 10


@pytest.mark.e2e
def test_dry_run_for_a_duration_publishes_plausible_decodable_trades(topics: Settings) -> None:
    result = subprocess.run([CLI, "ingest", "--mode", "dry", "--products", "BTC-USD,ETH-USD", "--rate", "50",
                             "--speed", "20", "--duration", "3", "--seed", "7"],
                            env=cli_env(topics), capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ingest (simulator) stopped by duration" in result.stdout
    trades = decode_trades(read_topic(topics, topics.kafka.trades_topic))
    assert len(trades) == final_counts(result.stderr)["published"] > 100
    assert {t.currency_pair for t in trades} == {"BTC-USD", "ETH-USD"}
    assert {t.exchange for t in trades} == {"simulator"}
    btc = [t.price for t in trades if t.currency_pair == "BTC-USD"]
    assert 50_000 < min(btc) <= max(btc) < 80_000
    # Faster than real time with a known duration: the simulated market ends about now, not hours ahead.
    assert max(t.event_time_ns for t in trades) <= time.time_ns() + 5 * 10**9


def test_unreachable_kafka_exits_non_zero_with_one_line_error(settings: Settings) -> None:
    env = dict(os.environ, TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    result = subprocess.run([CLI, "ingest", "--mode", "dry", "--duration", "1"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "127.0.0.1:1" in lines[0]


@pytest.mark.parametrize(("args", "needle"), [
    (["--mode", "paper"], "'paper'"), (["--products", "btcusd"], "btcusd"), (["--mode", "replay"], "--file"),
    (["--rate", "-3"], "-3"), (["--metrics-port", "70000"], "70000"),
])
def test_bad_options_are_refused_with_the_value_named(settings: Settings, args: list[str], needle: str) -> None:
    from typer.testing import CliRunner

    from tradestream_cli.main import app

    result = CliRunner().invoke(app, ["ingest", *args])
    assert result.exit_code != 0, args
    assert needle in result.stderr, (args, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
