"""kill -9 of the executor at random moments: its outputs equal an uninterrupted run's, no order twice.

Two executors read the same input topics while a day of market records (two pairs, two trades a
candle, the signals of five strategy entries) is published over about forty seconds: one runs
through, the other is killed with SIGKILL four times at random moments (seeded) and restarted
each time. Both then have every input committed. What read_committed readers see on their
output topics must be the same orders, fills and position histories, and the killed run must
hold each order and fill once (counted by client order id and fill id), because each
transaction commits the outputs, the executor's snapshot and the input offsets together.

A third reference that shares no Kafka code: the same records fed in order to an ``Executor``
in this process give the same fills.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import consumer_lag
from tests.execution.stream_harness import (
    ExecutorProcess,
    Outputs,
    Publisher,
    candle_trades,
    private_settings,
    strategy_signals,
    timeline,
    wait_for,
    write_accounts,
)
from tradestream.execution import Executor, load_accounts
from tradestream.settings import Settings
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.v1 import execution_pb2 as pb

KILLS = 4
SEED = 2026
PUBLISH_SECONDS = 40.0
STRATEGIES = (("DOUBLE_EMA_CROSSOVER", "BTC-USD"), ("SMA_RSI", "BTC-USD"), ("MACD_CROSSOVER", "ETH-USD"),
              ("DOUBLE_EMA_CROSSOVER", "ETH-USD"), ("RSI_EMA_CROSSOVER", "BTC-USD"))
ACCOUNTS = [
    {"name": "close", "cash": 100_000, "fill_model": "candle_close", "allocations": [
        {"strategy": "DOUBLE_EMA_CROSSOVER", "pair": "BTC-USD", "share": 0.3, "fees": 0.001, "slippage_bps": 5},
        {"strategy": "SMA_RSI", "pair": "BTC-USD", "share": 0.3, "fees": 0.001, "size": 0.5},
        {"strategy": "MACD_CROSSOVER", "pair": "ETH-USD", "share": 0.3, "fees": 0.0025}]},
    {"name": "next", "cash": 50_000, "fill_model": "next_trade", "latency_ms": 500, "allocations": [
        {"strategy": "DOUBLE_EMA_CROSSOVER", "pair": "ETH-USD", "share": 0.5, "fees": 0.001, "slippage_bps": 10},
        {"strategy": "RSI_EMA_CROSSOVER", "pair": "BTC-USD", "share": 0.5, "fees": 0.001}]},
]
#: What a position snapshot holds that does not depend on when a trade's mark arrived relative to a signal.
LEDGER_FIELDS = ("account", "allocation_id", "units", "cash", "entry_price", "committed", "entry_fees",
                 "realized_pnl", "closed_trades", "as_of", "last_fill_id", "starting_cash")


@pytest.fixture(scope="module")
def market_day() -> list:
    candles = {"BTC-USD": synthetic_candles(days=1, seed=21, start="2024-05-01"),
               "ETH-USD": synthetic_candles(days=1, seed=22, start="2024-05-01", start_price=3_000.0)}
    return timeline(candle_trades(candles), strategy_signals(candles, STRATEGIES))


def _publish(publisher: Publisher, records: list, seconds: float, done: threading.Event) -> None:
    """A minute of market at a time, as ingestion and the signal engine would (only faster): a signal
    reaches Kafka shortly after the trades of its candle, not minutes of event time later."""
    minutes: dict[int, list] = {}
    for record in records:
        minutes.setdefault(record.time_ns // 60_000_000_000, []).append(record)
    pause = seconds / len(minutes)
    for batch in minutes.values():
        for record in batch:
            (publisher.trade if record.kind == "trade" else publisher.signal)(record.message)
        publisher.flush()
        time.sleep(pause)
    done.set()


def _caught_up(settings: Settings, group: str) -> bool:
    client = KafkaClientConfig.from_settings(settings.kafka)
    return all(consumer_lag(client, group, topic) == 0 for topic in (settings.kafka.signals_topic,
                                                                     settings.kafka.trades_topic))


def _differences(got: list, expected: list) -> str:
    """The first differing fills, field by field (for the failure message)."""
    mine, theirs = {f.fill_id: f for f in got}, {f.fill_id: f for f in expected}
    lines = [f"{len(set(theirs) - set(mine))} fill(s) missing, {len(set(mine) - set(theirs))} extra"]
    for fill_id in sorted(set(theirs) - set(mine), key=lambda i: theirs[i].fill_time.ToNanoseconds())[:4]:
        f = theirs[fill_id]
        lines.append(f"missing: {f.allocation_id} {f.side} candle {f.candle_time.ToDatetime()} fill "
                     f"{f.fill_time.ToDatetime()} trade {f.trade_id}")
    for fill_id in sorted(set(mine) - set(theirs), key=lambda i: mine[i].fill_time.ToNanoseconds())[:4]:
        f = mine[fill_id]
        lines.append(f"extra: {f.allocation_id} {f.side} candle {f.candle_time.ToDatetime()} fill "
                     f"{f.fill_time.ToDatetime()} trade {f.trade_id}")
    for fill_id in sorted(set(mine) & set(theirs), key=lambda i: theirs[i].fill_time.ToNanoseconds()):
        a, b = mine[fill_id], theirs[fill_id]
        if a != b:
            fields = [f"{d.name}: {getattr(a, d.name)!r} != {getattr(b, d.name)!r}" for d in a.DESCRIPTOR.fields
                      if getattr(a, d.name) != getattr(b, d.name)]
            lines.append(f"{b.allocation_id} {b.fill_time.ToDatetime()}: " + "; ".join(fields))
        if len(lines) > 6:
            break
    return "\n".join(lines)


def _ledger(position: pb.PositionSnapshot) -> tuple:
    return tuple(getattr(position, name) for name in LEDGER_FIELDS)


def test_kill9_at_random_moments_leaves_the_outputs_of_an_uninterrupted_run(kafka, tmp_path: Path, artifacts_dir,
                                                                            market_day):
    reference = private_settings(kafka)
    killed = private_settings(kafka, inputs_of=reference)
    accounts = write_accounts(tmp_path / "accounts.yaml", ACCOUNTS)
    args = ("--start", "earliest", "--clock", "event")
    # small transactions: a kill lands between commits as well as inside one
    env = {"TRADESTREAM_EXECUTION_MAX_BATCH": "200"}
    logs = {name: artifacts_dir / f"execution-kill-{name}-{killed.kafka.fills_topic}.log" for name in ("reference",
                                                                                                     "killed")}
    runs = {name: ExecutorProcess(settings, accounts, logs[name], args=args, env=env)
            for name, settings in (("reference", reference), ("killed", killed))}
    for run in runs.values():
        run.start()
    rng = random.Random(SEED)
    done = threading.Event()
    publisher = threading.Thread(target=_publish, args=(Publisher(reference), market_day, PUBLISH_SECONDS, done))
    publisher.start()
    try:
        victim = runs["killed"]
        for _ in range(KILLS):
            # once this process committed something (so the restart has a snapshot to continue from), at a
            # random moment: inside a transaction or between two
            before = victim.committed_transactions()
            wait_for(lambda before=before: victim.committed_transactions() > before, 60,
                     "the executor committed nothing", alive=victim)
            time.sleep(rng.uniform(0.0, 2.0))
            victim.kill9()
            victim.start()
        publisher.join(120)
        assert done.is_set(), "publishing did not finish"
        for name, run in runs.items():
            wait_for(lambda run=run: _caught_up(run.settings, run.group), 180,
                     f"the {name} executor did not catch up; log {run.log}", interval=1.0, alive=run)
    finally:
        codes = {name: run.stop() for name, run in runs.items()}
    assert codes == {"reference": 0, "killed": 0}

    out = {name: Outputs(run.settings).poll(timeout=1.0) for name, run in runs.items()}
    ref, got = out["reference"], out["killed"]
    assert len(ref.fills) > 100, "the day must trade"
    assert {f.fill_model for f in ref.fills} == {pb.FILL_MODEL_CANDLE_CLOSE, pb.FILL_MODEL_NEXT_TRADE}

    # no order, fill or position twice, however often the executor died
    assert max(Counter((o.client_order_id, o.status) for o in got.orders).values()) == 1
    assert max(Counter(f.fill_id for f in got.fills).values()) == 1
    assert max(Counter(f.client_order_id for f in got.fills).values()) == 1
    assert max(Counter((p.allocation_id, p.last_fill_id) for p in got.positions).values()) == 1

    # and the same as the executor fed the same records in order, in this process
    executor = Executor(load_accounts(accounts))
    expected = []
    for record in market_day:
        if record.kind == "trade":
            expected += executor.on_trade(record.message).fills
        else:
            close = pd.Timestamp(record.time_ns, unit="ns", tz="UTC")
            expected += executor.on_signal(record.message, close).fills
    assert {f.fill_id: f for f in ref.fills} == {f.fill_id: f for f in expected}, _differences(ref.fills, expected)

    # the same outputs as the run that never stopped
    assert {f.fill_id: f for f in got.fills} == {f.fill_id: f for f in ref.fills}, _differences(got.fills, ref.fills)
    latest = {name: {o.client_order_id: o for o in o_.orders} for name, o_ in out.items()}
    assert latest["killed"] == latest["reference"]
    histories = {name: sorted(_ledger(p) for p in o_.positions) for name, o_ in out.items()}
    assert histories["killed"] == histories["reference"]

    log = runs["killed"].text()
    assert log.count("restored from snapshot of transaction") >= KILLS, log[-3000:]
    for o in out.values():
        o.close()
