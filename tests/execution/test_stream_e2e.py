"""End to end on real Kafka and Flink, dry: a day of simulated market through the strategy engine and the
executor, whose candle_close fills equal a backtest of the same candles, trade for trade.

A day of the seeded synthetic market (1,440 one-minute candles for two pairs) is published to a
private `candles` topic as the candle job publishes it; the signal job (``python -m streaming.signals``,
Beam on Flink's embedded mini-cluster) turns it into signals for three strategies on both pairs; the
executor (``python -m streaming.execution``) trades them for five allocations in two accounts with
different fees, slippage and sizing. Each allocation's fills must be ``run_strategy`` on the very
candle values the engine decoded, with the allocation's ``backtest_config()``: entry and exit
candles, prices, sizes, fees and P&L to 1e-9, the open position at the end included.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

from tests.execution.stream_harness import (
    ExecutorProcess,
    Outputs,
    allocation_fills,
    kafka_environment,
    private_settings,
    wait_for,
    write_accounts,
)
from tests.pipeline.test_signals_fixtures import candle_records, decoded_frame, expected_signals, updates, write_config
from tradestream.backtest import run_strategy
from tradestream.execution import load_accounts
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.v1 import execution_pb2 as pb

pytestmark = pytest.mark.e2e

STRATEGIES = (("DOUBLE_EMA_CROSSOVER", {}), ("SMA_RSI", {}), ("MACD_CROSSOVER", {}))
ACCOUNTS = [
    {"name": "alpha", "cash": 50_000, "allocations": [
        {"strategy": "DOUBLE_EMA_CROSSOVER", "pair": "BTC-USD", "share": 0.4, "fees": 0.001, "slippage_bps": 5,
         "size": 0.5},
        {"strategy": "SMA_RSI", "pair": "ETH-USD", "share": 0.3, "fees": 0.0025},
        {"strategy": "MACD_CROSSOVER", "pair": "BTC-USD", "share": 0.3, "fees": 0.0}]},
    {"name": "beta", "cash": 20_000, "allocations": [
        {"strategy": "DOUBLE_EMA_CROSSOVER", "pair": "ETH-USD", "share": 0.5, "fees": 0.001, "slippage_bps": 10},
        {"strategy": "MACD_CROSSOVER", "pair": "ETH-USD", "share": 0.5, "fees": 0.0015, "size": 0.8}]},
]
JOB_TIMEOUT_S = 600


def _round_trips(fills: list[pb.Fill]) -> list[tuple[pb.Fill, pb.Fill | None]]:
    trips, entry = [], None
    for fill in fills:
        if fill.side == pb.ORDER_SIDE_BUY:
            assert entry is None, "two entries in a row"
            entry = fill
        else:
            trips.append((entry, fill))
            entry = None
    return trips + ([(entry, None)] if entry is not None else [])


def test_a_day_of_simulated_market_through_flink_and_the_executor_equals_the_backtest(kafka, tmp_path: Path,
                                                                                         artifacts_dir):
    settings = private_settings(kafka)
    frames = {"BTC-USD": synthetic_candles(days=1, seed=31, start="2024-06-03"),
              "ETH-USD": synthetic_candles(days=1, seed=32, start="2024-06-03", start_price=3_500.0)}
    decoded = {pair: decoded_frame(updates(frame, pair)) for pair, frame in frames.items()}
    expected = set().union(*(expected_signals(frame, pair, STRATEGIES) for pair, frame in decoded.items()))
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "enable.idempotence": True})
    for pair, frame in frames.items():
        for key, value in candle_records(frame, pair):
            producer.produce(settings.kafka.candles_topic, key=key, value=value)
    assert producer.flush(30) == 0

    accounts = write_accounts(tmp_path / "accounts.yaml", ACCOUNTS)
    executor = ExecutorProcess(settings, accounts, artifacts_dir / f"execution-e2e-{settings.kafka.fills_topic}.log",
                               args=("--start", "earliest")).start()
    job_name = f"execution-e2e-{uuid.uuid4().hex[:8]}"
    job_log = artifacts_dir / f"{job_name}.log"
    config = write_config(tmp_path / "live.yaml", STRATEGIES)
    with job_log.open("wb") as out:
        job = subprocess.Popen([sys.executable, "-m", "streaming.signals", "--config", str(config), "--from-beginning",
                                "--fresh", "--job-name", job_name],
                               env={**executor.env, **kafka_environment(settings)}, stdout=out,
                               stderr=subprocess.STDOUT)
    outputs = Outputs(settings)
    allocated = [(a["strategy"], a["pair"]) for acct in ACCOUNTS for a in acct["allocations"]]
    wanted = sum(allocated.count((k.strategy, k.pair)) for k in expected)
    elsewhere = sum(1 for k in expected if (k.strategy, k.pair) not in allocated)
    try:
        wait_for(lambda: len(outputs.poll(0.2).fills) >= wanted or job.poll() is not None, JOB_TIMEOUT_S,
                 f"{len(outputs.fills)} of {wanted} fills after {JOB_TIMEOUT_S} s; logs {job_log}, {executor.log}",
                 interval=2.0, alive=executor)
        assert job.poll() is None, f"the signal job exited with {job.returncode}; log {job_log}"
    finally:
        job.terminate()
        try:
            job.wait(90)
        except subprocess.TimeoutExpired:
            job.kill()
        code = executor.stop()
        outputs.close()
    assert code == 0
    # every signal acted on; those of an entry allocated on the other pair only are refused as such
    refused = [e for e in outputs.risk_events if e.kind != pb.RISK_EVENT_KIND_STATUS_CHANGED]
    assert {pb.RiskReason.Name(e.reason) for e in refused} <= {"RISK_REASON_UNKNOWN_PAIR"}
    assert len(refused) == elsewhere > 0
    assert len(outputs.fills) == wanted

    fills = allocation_fills(outputs.fills)
    compared = 0
    for alloc in load_accounts(accounts).allocations():
        candles = decoded[alloc.pair]
        run = run_strategy(candles, alloc.entry.strategy, alloc.entry.params, alloc.backtest_config(), timeframe="1m")
        trips = _round_trips(fills.get(alloc.id, []))
        assert len(trips) == len(run.trades) > 5, alloc.id
        for (entry, exit_), bt in zip(trips, run.trades.itertuples(), strict=True):
            assert entry.candle_time.ToDatetime().replace(tzinfo=candles.index.tz) == bt.entry_time
            np.testing.assert_allclose([entry.price, entry.size, entry.fee],
                                       [bt.entry_price, bt.size, bt.entry_fees], rtol=1e-9, atol=1e-9)
            if exit_ is None:
                assert bt.exit_reason == "open"
                continue
            assert exit_.candle_time.ToDatetime().replace(tzinfo=candles.index.tz) == bt.exit_time
            np.testing.assert_allclose([exit_.price, exit_.size, exit_.fee, exit_.realized_pnl],
                                       [bt.exit_price, bt.size, bt.exit_fees, bt.pnl], rtol=1e-9, atol=1e-9)
            compared += 1
        final = [p for p in outputs.positions if p.allocation_id == alloc.id][-1]
        close = candles["close"].iloc[-1]
        assert final.cash + final.units * close == pytest.approx(run.metrics.final_equity, rel=1e-9)
    assert compared > 30
