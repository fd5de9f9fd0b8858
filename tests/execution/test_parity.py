"""Paper trades with candle_close fills are the backtest: the live signal path against run_backtest.

The executor and the backtester share the money of a fill (``backtest/money.py``), so the
comparison below checks everything around it: that signals become the same sequence
of entries and exits, that sizing reads the same cash at the same moment, and that
allocations do not leak into each other. The arithmetic itself is checked against a
case worked out by hand (``test_a_round_trip_worked_out_by_hand``).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.execution.builders import account, allocation, close_of, config, executor, signal, trade
from tradestream.backtest import run_strategy
from tradestream.execution.executor import Executor
from tradestream.strategies.config import ActiveStrategySet
from tradestream.strategies.live import LiveEvaluator
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.v1 import execution_pb2 as pb

STRATEGIES = ("DOUBLE_EMA_CROSSOVER", "SMA_RSI")


@pytest.fixture(scope="module")
def day():
    """One day of the seeded synthetic market, 1-minute candles."""
    return synthetic_candles(days=1, seed=11)


@pytest.fixture(scope="module")
def live_signals(day):
    """The signals the live strategy engine emits on that day, candle by candle."""
    entries = [ActiveStrategySet.from_dict({"strategies": [{"strategy": s, "pairs": ["BTC-USD"]}]})[0].entries[0]
               for s in STRATEGIES]
    evaluator = LiveEvaluator(ActiveStrategySet.of(entries))
    out = []
    for start, row in day.iterrows():
        candle = {"pair": "BTC-USD", "timeframe": "1m", "window_start": start, **row.to_dict()}
        for live in evaluator.on_candle(candle):
            out.append((live.to_proto(emitted_at=(start + np.timedelta64(1, "m")).to_pydatetime()), start))
    return out


def _round_trips(fills: list[pb.Fill]) -> list[tuple[pb.Fill, pb.Fill | None]]:
    trips, entry = [], None
    for fill in fills:
        if fill.side == pb.ORDER_SIDE_BUY:
            assert entry is None, "two entries in a row"
            entry = fill
        else:
            trips.append((entry, fill))
            entry = None
    if entry is not None:
        trips.append((entry, None))
    return trips


def test_an_allocations_fills_equal_its_backtest_trade_for_trade(day, live_signals):
    cfg = config(account("acct", 20_000.0, allocations=[
        allocation("DOUBLE_EMA_CROSSOVER", share=0.5, fees=0.001, slippage_bps=7.0, size=0.6),
        allocation("SMA_RSI", share=0.25, fees=0.0025, slippage_bps=0.0, size=1.0)]))
    ex = Executor(cfg)
    fills: dict[str, list[pb.Fill]] = {}
    for message, start in live_signals:
        out = ex.on_signal(message, start + np.timedelta64(1, "m"))  # acted on as the candle closes
        assert not out.risk_events, out.risk_events
        for fill in out.fills:
            fills.setdefault(fill.allocation_id, []).append(fill)

    compared = 0
    for alloc in cfg.allocations():
        run = run_strategy(day, alloc.entry.strategy, alloc.entry.params, alloc.backtest_config(), timeframe="1m")
        trips = _round_trips(fills[alloc.id])
        assert len(trips) == len(run.trades) > 10
        for (entry, exit_), expected in zip(trips, run.trades.itertuples(), strict=True):
            assert entry.candle_time.ToDatetime().replace(tzinfo=day.index.tz) == expected.entry_time
            np.testing.assert_allclose([entry.price, entry.size, entry.fee],
                                       [expected.entry_price, expected.size, expected.entry_fees], rtol=1e-9)
            if exit_ is None:
                assert expected.exit_reason == "open"
                continue
            assert exit_.candle_time.ToDatetime().replace(tzinfo=day.index.tz) == expected.exit_time
            np.testing.assert_allclose([exit_.price, exit_.size, exit_.fee, exit_.realized_pnl],
                                       [expected.exit_price, expected.size, expected.exit_fees, expected.pnl],
                                       rtol=1e-9, atol=1e-9)
            compared += 1
        ledger = ex.ledger(alloc.id)
        final = ledger.cash + ledger.units * day["close"].iloc[-1]
        assert final == pytest.approx(run.metrics.final_equity, rel=1e-9)
    assert compared > 20


def test_a_round_trip_worked_out_by_hand():
    """Cash 1000, fees 0.1 %, slippage 10 bp, half the cash per entry; buy at 100, sell at 110.

    Entry: fill 100 * (1 + 0.001) = 100.1; committed 0.5 * 1000 = 500, of which
    500 / 1.001 = 499.5004995... buys 499.5004995 / 100.1 = 4.990014980... units and
    500 - 499.5004995 = 0.4995004995 is the fee; 500 cash stays.
    Exit: fill 110 * (1 - 0.001) = 109.89; value 4.990014980 * 109.89 = 548.3527461...;
    fee 0.1 % of it = 0.5483527461; proceeds 547.8043934...; pnl = proceeds - 500 = 47.80439...
    Cash after: 500 + 547.8043934 = 1047.8043934.
    """
    ex = executor(account("a", 1000.0, allocations=[allocation(fees=0.001, slippage_bps=10.0, size=0.5)]))
    buy = ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    sell = ex.on_signal(signal("SELL", 5, 110.0), close_of(5))
    (entry,), (exit_,) = buy.fills, sell.fills
    assert entry.price == pytest.approx(100.1, abs=1e-12)
    assert entry.size == pytest.approx(4.990014980024971, abs=1e-12)
    assert entry.fee == pytest.approx(0.4995004995004706, abs=1e-12)
    assert entry.quote_amount == pytest.approx(500.0, abs=1e-12)
    assert exit_.price == pytest.approx(109.89, abs=1e-12)
    assert exit_.fee == pytest.approx(0.548352746154944, abs=1e-12)
    assert exit_.quote_amount == pytest.approx(547.8043934087891, abs=1e-9)
    assert exit_.realized_pnl == pytest.approx(47.80439340878911, abs=1e-9)
    (position,) = sell.positions
    assert position.cash == pytest.approx(1047.8043934087891, abs=1e-9)
    assert position.units == 0 and position.closed_trades == 1


def test_next_trade_fills_at_the_first_trade_after_latency_whichever_arrives_first():
    """Latency 500 ms: trades at +0.2 s (too early), +0.7 s (fills), +1 s. Slippage 10 bp on top."""
    def run(trades_first: bool):
        ex = executor(account("a", 1000.0, fill_model="next_trade", latency_ms=500,
                              allocations=[allocation(slippage_bps=10.0)]))
        close = close_of(0)
        ticks = [trade(p, close + np.timedelta64(ms, "ms"), f"t{ms}") for p, ms in ((99.0, 200), (101.0, 700),
                                                                                  (102.0, 1000))]
        outs = []
        if trades_first:
            outs += [ex.on_trade(t) for t in ticks]
            outs.append(ex.on_signal(signal("BUY", 0, 100.0), close))
        else:
            outs.append(ex.on_signal(signal("BUY", 0, 100.0), close))
            outs += [ex.on_trade(t) for t in ticks]
        return [f for o in outs for f in o.fills]

    for trades_first in (False, True):
        (fill,) = run(trades_first)
        assert fill.trade_id == "t700" and fill.market_price == 101.0
        assert fill.price == pytest.approx(101.0 * 1.001, abs=1e-12)
        assert fill.fill_model == pb.FILL_MODEL_NEXT_TRADE
