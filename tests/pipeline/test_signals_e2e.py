"""End to end on Flink: `tradestream pipeline signals` turns candles on Kafka into signals on Kafka.

One test, two job runs (the command the Dagster asset starts, parallelism 2 with process
workers, the embedded Flink mini-cluster, the real broker) cover: every signal of the
vectorized evaluation over the same candles and nothing else, once each although a
signal bar is revised; bad config entries skipped with their reason while the rest runs;
a config reload that keeps the running positions and starts an added strategy;
undecodable and invalid candle records on the dead-letter topic; a clean stop on SIGTERM;
a restart that resumes positions and windows from the retained checkpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streaming.jobs.checkpoints import latest_checkpoint
from tests.pipeline.test_signals_fixtures import (
    CONFIG_A,
    CONFIG_B,
    SignalKey,
    candle_message,
    candle_records,
    decoded_frame,
    expected_signals,
    key_of_proto,
    market,
    updates,
    write_config,
)
from tradestream.settings import Settings
from tradestream.strategies.live import LiveSignal
from tradestream.v1 import market_pb2, strategy_pb2

PAIRS = {"BTC-USD": 21, "ETH-USD": 22}
BARS = 360          # phases 1 and 2 (before and after the reload), first run
RESTART_BARS = 60   # phase 3, after the restart from the checkpoint
JOB_START_TIMEOUT_S = 600  # JVM, Flink and six worker processes start first: minutes on a loaded machine


class TopicTail:
    """Reads a topic from its beginning, accumulating every record."""

    def __init__(self, bootstrap: str, topic: str):
        self.records: list[tuple[bytes | None, bytes]] = []
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}",
                                   "enable.auto.commit": False, "enable.partition.eof": False})
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, 0) for p in partitions])

    def poll(self, timeout: float = 0.5) -> None:
        for message in self._consumer.consume(num_messages=10_000, timeout=timeout):
            if message.error() is None:
                self.records.append((message.key(), message.value()))
            elif message.error().code() != KafkaError._PARTITION_EOF:
                raise AssertionError(f"reading failed: {message.error()}")

    def close(self) -> None:
        self._consumer.close()


def wait_for_signals(tail: TopicTail, expected: set[SignalKey], job: subprocess.Popen, log: Path,
                     timeout: float) -> list[SignalKey]:
    deadline = time.monotonic() + timeout
    while True:
        tail.poll()
        got = [key_of_proto(strategy_pb2.Signal.FromString(value)) for _, value in tail.records]
        if expected <= set(got):
            return got
        if job.poll() is not None:
            raise AssertionError(f"the signal job exited with {job.returncode}; log: {log}\n"
                                 + log.read_text()[-3000:])
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(expected - set(got))} of {len(expected)} expected signals missing after "
                                 f"{timeout:.0f} s, e.g. {sorted(expected - set(got))[:3]}; log: {log}")


def start_job(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def stop_job(job: subprocess.Popen) -> int:
    job.send_signal(signal.SIGTERM)
    try:
        return job.wait(90)
    except subprocess.TimeoutExpired:
        job.kill()
        raise AssertionError("the signal job did not stop within 90 s of SIGTERM") from None


def wait_for_checkpoint_after(checkpoint_dir: Path, since: float, job: subprocess.Popen, log: Path) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = latest_checkpoint(checkpoint_dir)
        if found is not None and (found / "_metadata").stat().st_mtime > since:
            return found
        assert job.poll() is None, f"the signal job died; log: {log}"
        time.sleep(1)
    raise AssertionError(f"no checkpoint in {checkpoint_dir} after {since}; log: {log}")


@pytest.mark.e2e
def test_candles_become_exactly_the_vectorized_signals_through_a_revision_a_reload_and_a_restart(
        kafka: Settings, runtime_home: Path, tmp_path: Path, artifacts_dir: Path):
    suffix = uuid.uuid4().hex[:8]
    topics = {"candles": f"candles-{suffix}", "signals": f"signals-{suffix}", "dlq": f"dlq-{suffix}"}
    bootstrap = kafka.kafka.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)
                                       for t in topics.values()]).values():
        future.result(30)

    total = BARS + RESTART_BARS
    frames = {pair: market(total, seed) for pair, seed in PAIRS.items()}
    decoded = {pair: decoded_frame(updates(frame, pair)) for pair, frame in frames.items()}
    phase_a = {pair: expected_signals(f, pair, CONFIG_A) for pair, f in decoded.items()}
    # Phase 1 ends, per pair, on a bar with a signal: seeing it proves the phase was processed.
    boundary = {pair: max(i for i, t in enumerate(f.index) if i < BARS * 0.6 and any(
        k.candle_time_ms == t.value // 1_000_000 for k in phase_a[pair])) for pair, f in decoded.items()}
    # BTC's first signal bar after the warm-up is revised (a little more volume) right after it.
    revised_at = min(k.candle_time_ms for k in phase_a["BTC-USD"] if k.candle_time_ms > decoded[
        "BTC-USD"].index[60].value // 1_000_000)
    revised_bar = pd.Timestamp(revised_at, unit="ms", tz="UTC")
    revised_row = frames["BTC-USD"].loc[revised_bar].copy()
    revised_row["volume"] *= 1.000001
    revised_frame = decoded["BTC-USD"].copy()
    revised_frame.loc[revised_bar, "volume"] = revised_row["volume"]
    assert expected_signals(revised_frame, "BTC-USD", CONFIG_A) == phase_a["BTC-USD"], "pick a harmless revision"
    decoded["BTC-USD"] = revised_frame

    expected_1, expected_12, expected_all = set(), set(), set()
    for pair, frame in decoded.items():
        switch, restart = frame.index[boundary[pair] + 1], frame.index[BARS]
        expected_1 |= expected_signals(frame, pair, CONFIG_A, until=switch)
        expected_12 |= expected_1 | expected_signals(frame, pair, CONFIG_B, since=switch, until=restart)
        expected_all |= expected_12 | expected_signals(frame, pair, CONFIG_B, since=restart)
    assert len(expected_all - expected_12) > 3, "phase 3 must have signals"

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    records = {pair: candle_records(frame, pair) for pair, frame in frames.items()}

    def publish(start: dict[str, int], stop: dict[str, int]) -> None:
        for i in range(min(start.values()), max(stop.values())):
            for pair in PAIRS:
                if start[pair] <= i < stop[pair]:
                    key, value = records[pair][i]
                    producer.produce(topics["candles"], key=key, value=value)
                    if pair == "BTC-USD" and frames[pair].index[i] == revised_bar:
                        producer.produce(topics["candles"], key=key, value=candle_message(
                            pair, "1m", revised_bar, revised_row, revision=1).SerializeToString())
        producer.flush(30)

    garbage = b"\x00\xffnot a candle"
    wrong_key = candle_message("ETH-USD", "1m", frames["ETH-USD"].index[5], frames["ETH-USD"].iloc[5])
    producer.produce(topics["candles"], key=b"BTC-USD|1m", value=garbage)
    producer.produce(topics["candles"], key=b"BTC-USD|1m", value=wrong_key.SerializeToString())
    publish({p: 0 for p in PAIRS}, {p: boundary[p] + 1 for p in PAIRS})

    config = write_config(tmp_path / "live.yaml", CONFIG_A, extra=[
        {"strategy": "MACD_CROSS", "params": {}},
        {"strategy": "DONCHIAN_BREAKOUT", "params": {"entry_period": 500}},
    ])
    job_name = f"signals-e2e-{suffix}"
    logs = [artifacts_dir / f"{job_name}-{run}.log" for run in (1, 2)]
    env = {**os.environ, "TRADESTREAM_KAFKA_CANDLES_TOPIC": topics["candles"],
           "TRADESTREAM_KAFKA_SIGNALS_TOPIC": topics["signals"], "TRADESTREAM_KAFKA_DLQ_TOPIC": topics["dlq"]}
    argv = [sys.executable, "-m", "tradestream_cli.main", "pipeline", "signals", "--config", str(config),
            "--from-beginning", "--reload-interval", "0", "--job-name", job_name]
    signals_tail = TopicTail(bootstrap, topics["signals"])
    job = start_job(argv + ["--fresh"], env, logs[0])
    try:
        wait_for_signals(signals_tail, expected_1, job, logs[0], JOB_START_TIMEOUT_S)

        write_config(config, CONFIG_B)  # reloaded at each worker's next candle
        publish({p: boundary[p] + 1 for p in PAIRS}, {p: BARS for p in PAIRS})
        wait_for_signals(signals_tail, expected_12, job, logs[0], 180)
        processed_at = time.time()
        time.sleep(5)  # anything extra (a duplicate, a signal of a removed strategy) would show up by now
        signals_tail.poll(timeout=2)
        before_restart = [key_of_proto(strategy_pb2.Signal.FromString(v)) for _, v in signals_tail.records]
        wait_for_checkpoint_after(runtime_home / "checkpoints" / job_name, processed_at, job, logs[0])
    finally:
        code = stop_job(job)

    assert set(before_restart) == expected_12
    assert max(Counter(k.identity for k in before_restart).values()) == 1, "a signal was published twice"
    assert code in (0, 128 + signal.SIGTERM), f"the job ended with {code} on SIGTERM; log: {logs[0]}"

    # Restart: the same command without --fresh resumes windows, positions and offsets.
    job = start_job(argv, env, logs[1])
    try:
        publish({p: BARS for p in PAIRS}, {p: total for p in PAIRS})
        wait_for_signals(signals_tail, expected_all, job, logs[1], JOB_START_TIMEOUT_S)
        time.sleep(3)
        signals_tail.poll(timeout=2)
    finally:
        stop_job(job)
        signals_tail.close()

    messages = [(key, strategy_pb2.Signal.FromString(value)) for key, value in signals_tail.records]
    got = [key_of_proto(message) for _, message in messages]
    assert set(got) == expected_all
    by_identity: dict[tuple, set] = {}
    for _, message in messages:
        by_identity.setdefault(key_of_proto(message).identity, set()).add((message.signal_id, message.price))
    assert all(len(versions) == 1 for versions in by_identity.values()), \
        "a signal re-published after the restart must be identical (same signal_id)"
    assert {k.strategy for k in got if k.candle_time_ms > decoded["BTC-USD"].index[boundary["BTC-USD"]].value
            // 1_000_000 and k.pair == "BTC-USD"} <= {name for name, _ in CONFIG_B}
    assert any(k.strategy == "AROON_MFI" for k in got), "the strategy added by the reload must run"
    for key, message in messages:
        assert key == message.currency_pair.encode()
        k = key_of_proto(message)
        assert message.signal_id == LiveSignal(k.strategy, dict(_params(message)), k.pair, k.timeframe,
                                               pd.Timestamp(k.candle_time_ms, unit="ms", tz="UTC"), message.price,
                                               k.type, message.reason).signal_id
        assert message.price == decoded[k.pair].loc[pd.Timestamp(k.candle_time_ms, unit="ms", tz="UTC"), "close"]
        assert message.reason and message.emitted_at.seconds > 0

    dead = TopicTail(bootstrap, topics["dlq"])
    deadline = time.monotonic() + 30
    while len(dead.records) < 2 and time.monotonic() < deadline:
        dead.poll()
    dead.close()
    letters = {market_pb2.DeadLetter.FromString(value).reason: market_pb2.DeadLetter.FromString(value)
               for _, value in dead.records}
    assert set(letters) == {"undecodable_candle", "invalid_candle"}
    assert letters["undecodable_candle"].payload == garbage
    assert letters["undecodable_candle"].source == "pipeline:signals"
    assert letters["undecodable_candle"].original_topic == topics["candles"]
    assert "differs" in letters["invalid_candle"].detail

    first, second = (log.read_text(errors="replace") for log in logs)
    assert "MACD_CROSS" in first and "unknown strategy" in first
    assert "entry_period=500" in first
    assert "resumes from checkpoint" in second
    # the default (incremental) engine keeps one key per stream, named without a frame bucket
    assert "restored BTC-USD|1m from its state" in second and "restored ETH-USD|1m from its state" in second


def _params(message: strategy_pb2.Signal) -> dict:
    return {p.name: getattr(p, p.WhichOneof("value")) for p in message.strategy.parameters}

