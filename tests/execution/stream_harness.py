"""Helpers of the execution stream's tests (no tests here): private topics, the executor as a process,
readers of its outputs, and a day of market records (trades and the live engine's signals).

The executor runs as the supervisor runs it, ``python -m streaming.execution`` in its own process,
so a test can kill it with SIGKILL at any moment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from streaming.kafka.topics import ensure_topics
from tradestream.settings import KafkaSettings, Settings
from tradestream.strategies import evaluate, get_strategy
from tradestream.strategies.live import LiveSignal
from tradestream.strategies.positions import BUY, trade_signals
from tradestream.v1 import execution_pb2 as pb
from tradestream.v1 import market_pb2, strategy_pb2

INPUT_FIELDS = ("trades_topic", "signals_topic", "risk_commands_topic")
OUTPUT_FIELDS = ("orders_topic", "fills_topic", "positions_topic", "risk_events_topic", "account_states_topic",
                 "execution_snapshots_topic")
READY_LINE = "restored from"


def private_settings(base: Settings, *, inputs_of: Settings | None = None) -> Settings:
    """``base`` with its own topics (created); ``inputs_of`` shares that settings' input topics."""
    tag = uuid.uuid4().hex[:8]
    fields = base.kafka.model_dump()
    for name in ("candles_topic", "dlq_topic", *INPUT_FIELDS, *OUTPUT_FIELDS):
        fields[name] = f"{fields[name]}-{tag}"
    if inputs_of is not None:
        for name in INPUT_FIELDS:
            fields[name] = getattr(inputs_of.kafka, name)
    settings = base.model_copy(update={"kafka": KafkaSettings(**fields)})
    ensure_topics(settings)
    return settings


def kafka_environment(settings: Settings) -> dict[str, str]:
    k = settings.kafka
    env = {"TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": k.bootstrap}
    for name in ("candles_topic", "dlq_topic", *INPUT_FIELDS, *OUTPUT_FIELDS):
        env[f"TRADESTREAM_KAFKA_{name.upper()}"] = getattr(k, name)
    return env


def write_accounts(path: Path, accounts: Sequence[Mapping], **fields) -> Path:
    path.write_text(yaml.safe_dump({"accounts": [dict(a) for a in accounts], **fields}, sort_keys=False))
    return path


class ExecutorProcess:
    """``python -m streaming.execution`` for ``settings``' topics; its log appends across restarts."""

    def __init__(self, settings: Settings, accounts: Path, log: Path, *, group: str | None = None,
                 args: Sequence[str] = (), env: Mapping[str, str] | None = None):
        self.settings = settings
        self.group = group or f"exec-{uuid.uuid4().hex[:8]}"
        self.argv = [sys.executable, "-m", "streaming.execution", "--accounts", str(accounts), "--group", self.group,
                     *args]
        self.env = {**os.environ, **kafka_environment(settings), **(env or {})}
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, wait_ready: bool = True, timeout: float = 120.0) -> ExecutorProcess:
        before = self._ready_lines()
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1}: {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        self.starts += 1
        if wait_ready:
            wait_for(lambda: self._ready_lines() > before, timeout, f"the executor did not start; log {self.log}",
                     alive=self)
        return self

    def _ready_lines(self) -> int:
        try:
            return self.log.read_text(errors="replace").count(READY_LINE)
        except OSError:
            return 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError(f"the executor did not stop within {timeout:.0f} s of SIGTERM; log {self.log}")\
                    from None
        return self.proc.returncode

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def committed_transactions(self) -> int:
        """Records on its snapshot topic: grows by two (the snapshot and the commit marker) per transaction."""
        topic = self.settings.kafka.execution_snapshots_topic
        consumer = Consumer({"bootstrap.servers": self.settings.kafka.bootstrap, "group.id": "watermarks"})
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1] // 2
        finally:
            consumer.close()


def wait_for(condition: Callable[[], bool], timeout: float, message: str, *, interval: float = 0.2,
             alive: ExecutorProcess | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None and not alive.alive():
            raise AssertionError(f"the executor exited with {alive.proc.returncode}: {message}\n"
                                 + alive.text()[-3000:])
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(interval)


class Outputs:
    """Every committed record of the executor's output topics, read from their beginning."""

    KINDS = {"orders_topic": pb.Order, "fills_topic": pb.Fill, "positions_topic": pb.PositionSnapshot,
             "risk_events_topic": pb.RiskEvent, "account_states_topic": pb.AccountState}

    def __init__(self, settings: Settings):
        k = settings.kafka
        self._types = {getattr(k, name): message for name, message in self.KINDS.items()}
        self.records: dict[str, list] = {name.removesuffix("_topic"): [] for name in self.KINDS}
        self._names = {getattr(k, name): name.removesuffix("_topic") for name in self.KINDS}
        self._consumer = Consumer({"bootstrap.servers": k.bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False, "isolation.level": "read_committed"})
        assignment = []
        for topic in self._types:
            partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
            assignment += [TopicPartition(topic, p, 0) for p in partitions]
        self._consumer.assign(assignment)

    def poll(self, timeout: float = 0.3) -> Outputs:
        while True:
            messages = self._consumer.consume(num_messages=10_000, timeout=timeout)
            for message in messages:
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        raise AssertionError(f"reading failed: {message.error()}")
                    continue
                self.records[self._names[message.topic()]].append(
                    self._types[message.topic()].FromString(message.value()))
            if not messages:
                return self

    @property
    def orders(self) -> list[pb.Order]:
        return self.records["orders"]

    @property
    def fills(self) -> list[pb.Fill]:
        return self.records["fills"]

    @property
    def positions(self) -> list[pb.PositionSnapshot]:
        return self.records["positions"]

    @property
    def risk_events(self) -> list[pb.RiskEvent]:
        return self.records["risk_events"]

    @property
    def account_states(self) -> list[pb.AccountState]:
        return self.records["account_states"]

    def close(self) -> None:
        self._consumer.close()


class Publisher:
    def __init__(self, settings: Settings):
        self.kafka = settings.kafka
        self._producer = Producer({"bootstrap.servers": self.kafka.bootstrap, "enable.idempotence": True,
                                   "linger.ms": 2})

    def send(self, topic: str, key: str, message) -> None:
        value = message if isinstance(message, bytes) else message.SerializeToString()
        while True:
            try:
                self._producer.produce(topic, key=key.encode(), value=value)
                return
            except BufferError:
                self._producer.poll(0.05)

    def signal(self, message: strategy_pb2.Signal) -> None:
        self.send(self.kafka.signals_topic, message.currency_pair, message)

    def trade(self, message: market_pb2.Trade) -> None:
        self.send(self.kafka.trades_topic, message.currency_pair, message)

    def flush(self) -> None:
        assert self._producer.flush(30) == 0, "records not acknowledged by Kafka within 30 s"


# ------------------------------------------------------------------ a day of market records


@dataclass(frozen=True)
class Record:
    time_ns: int
    kind: str            # "trade" or "signal"
    message: object


def strategy_signals(candles: Mapping[str, pd.DataFrame], strategies: Iterable[tuple[str, str]]) -> list[Record]:
    """The signals the live engine publishes for ``strategies`` ((name, pair), default parameters) over the
    candles, each at its candle's close: the vectorized evaluation, which the engine equals bar for bar
    (tests/strategies/test_no_skew.py), is much faster to compute here."""
    out = []
    for strategy, pair in strategies:
        spec = get_strategy(strategy)
        params = spec.validate_params({})
        actions = trade_signals(*evaluate(strategy, candles[pair], params))
        for start, action in actions[actions != 0].items():
            close = start + pd.Timedelta(minutes=1)
            live = LiveSignal(strategy=spec.name, params=params, pair=pair, timeframe="1m", candle_time=start,
                              price=float(candles[pair].at[start, "close"]), type="BUY" if action == BUY else "SELL",
                              reason="test")
            out.append(Record(close.value, "signal", live.to_proto(emitted_at=close.to_pydatetime())))
    return out


def candle_trades(candles: Mapping[str, pd.DataFrame], offsets_s: Sequence[float] = (10.0, 40.0)) -> list[Record]:
    """Trades inside each candle (at ``offsets_s`` after its start): the open's price, then the close's."""
    out = []
    for pair, frame in candles.items():
        prices = np.column_stack([frame["open"].to_numpy(), frame["close"].to_numpy()])
        for i, start in enumerate(frame.index):
            for j, offset in enumerate(offsets_s):
                at = start + pd.Timedelta(seconds=offset)
                message = market_pb2.Trade(exchange="simulator", currency_pair=pair, trade_id=f"{pair}-{i}-{j}",
                                           price=float(prices[i, min(j, 1)]), size=0.01)
                message.event_time.FromNanoseconds(at.value)
                out.append(Record(at.value, "trade", message))
    return out


def timeline(*streams: Iterable[Record]) -> list[Record]:
    """Records in event-time order (a signal after the trades of its candle)."""
    return sorted((r for stream in streams for r in stream), key=lambda r: (r.time_ns, r.kind != "trade"))


def latest(records: Iterable, key: Callable) -> dict:
    out = {}
    for record in records:
        out[key(record)] = record
    return out


def allocation_fills(fills: Iterable[pb.Fill]) -> dict[str, list[pb.Fill]]:
    out: dict[str, list[pb.Fill]] = {}
    for fill in sorted(fills, key=lambda f: (f.fill_time.ToNanoseconds(), f.side)):
        out.setdefault(fill.allocation_id, []).append(fill)
    return out
