"""``tradestream.execution.parity``: hour by hour, an allocation's executed legs against a backtest of the
same candles (what the ``execution_matches_backtest`` check runs).

The executor is fed a day of the strategy engine's signals (and trades, for ``next_trade``); its
fills become rows of the ``fills`` table exactly as the warehouse stores them. Every hour must
compare equal with ``candle_close``, whether the allocation was flat or long when the hour
began, and also across a kill switch that refused signals for a while; a changed fill must be
named; ``next_trade`` fills must report what the latency cost, against a cost computed here from
the trades themselves.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.execution.builders import account, allocation, config, halt
from tests.execution.stream_harness import candle_trades, strategy_signals, timeline
from tradestream import store
from tradestream.execution import Executor
from tradestream.execution.parity import CANDLE_CLOSE, check_allocation
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.v1 import execution_pb2 as pb

PAIR = "BTC-USD"


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    return synthetic_candles(days=1, seed=41, start="2024-04-02")


def _run(day: pd.DataFrame, cfg, *, trades: bool = False, halt_between: tuple[int, int] | None = None):
    """The executor over the day: (fills table rows, refused signal ids, cash by fill id)."""
    ex = Executor(cfg)
    records = timeline(strategy_signals({PAIR: day}, [(a.entry.strategy, PAIR) for a in cfg.allocations()]),
                       candle_trades({PAIR: day}) if trades else [])
    fills, refused, cash = [], set(), {}
    for record in records:
        at = pd.Timestamp(record.time_ns, unit="ns", tz="UTC")
        if halt_between and record.kind == "signal":
            hour = at.hour
            if hour == halt_between[0] and not ex.account_state("a").halted:
                ex.on_halt(halt("a", at=at, command_id="h"))
            if hour == halt_between[1] and ex.account_state("a").halted:
                ex.on_halt(halt("a", halt_=False, at=at, command_id="r"))
        out = ex.on_trade(record.message) if record.kind == "trade" else ex.on_signal(record.message, at)
        fills += out.fills
        refused |= {e.signal_id for e in out.risk_events if e.kind == pb.RISK_EVENT_KIND_ORDER_DENIED}
        cash |= {p.last_fill_id: p.cash for p in out.positions}
    return store.frame([store.fill_row(f) for f in fills], store.FILL_TABLE_COLUMNS), refused, cash


def _hours(day: pd.DataFrame):
    start = day.index[0]
    return [(start + pd.Timedelta(hours=h), start + pd.Timedelta(hours=h + 1)) for h in range(24)]


def _check(alloc, fills, day, window, refused=(), snapshots=None):
    mine = fills[(fills["allocation_id"] == alloc.id) & (pd.to_datetime(fills["fill_time"]).dt.tz_localize("UTC")
                                                          < window[1])]
    return check_allocation(alloc.id, alloc.entry.strategy, alloc.entry.params, alloc.pair, alloc.timeframe,
                            alloc.backtest_config(), mine, lambda a, b: day[(day.index >= a) & (day.index < b)],
                            window, starting_cash=alloc.cash, snapshots=snapshots, refused=refused)


def test_every_hour_of_candle_close_fills_equals_the_backtest_flat_or_long_at_its_start(day):
    cfg = config(account("a", 20_000, allocations=[
        allocation("DOUBLE_EMA_CROSSOVER", share=0.5, fees=0.001, slippage_bps=7.0, size=0.6),
        allocation("SMA_RSI", share=0.5, fees=0.0025)]))
    fills, _, cash = _run(day, cfg)
    compared, long_starts = 0, 0
    for alloc in cfg.allocations():
        for window in _hours(day):
            report = _check(alloc, fills, day, window, snapshots=cash)
            assert report.fill_model == CANDLE_CLOSE
            assert report.passed(0.0), (window, report.missing, report.extra, report.mismatches)
            compared += report.legs_compared
            long_starts += report.anchor is not None and report.anchor < window[0]
    # every leg of the day, compared in the hour its candle closes (the last candle closes the next day)
    day_end = _hours(day)[-1][1]
    closes = pd.to_datetime(fills["candle_time"]).dt.tz_localize("UTC") + pd.Timedelta(minutes=1)
    assert compared == int((closes < day_end).sum()) > 40
    assert long_starts > 3, "some hours must begin with a position open"


def test_signals_the_kill_switch_refused_are_taken_out_of_the_backtest(day):
    cfg = config(account("a", 10_000, allocations=[allocation("DOUBLE_EMA_CROSSOVER", fees=0.001)]))
    fills, refused, cash = _run(day, cfg, halt_between=(5, 9))
    assert refused, "the halt must refuse some signals"
    (alloc,) = cfg.allocations()
    for window in _hours(day):
        report = _check(alloc, fills, day, window, refused=refused, snapshots=cash)
        assert report.passed(0.0), (window, report.missing, report.extra, report.mismatches)
    blind = [_check(alloc, fills, day, w, snapshots=cash) for w in _hours(day)]
    assert any(not r.exact for r in blind), "without the refused signals the hours of the halt must differ"


def test_a_changed_fill_is_named_with_the_field_and_both_values(day):
    cfg = config(account("a", 10_000, allocations=[allocation("DOUBLE_EMA_CROSSOVER", fees=0.001)]))
    fills, _, cash = _run(day, cfg)
    (alloc,) = cfg.allocations()
    row = fills.index[len(fills) // 2]
    fills.loc[row, "price"] *= 1 + 1e-7
    window = next(w for w in _hours(day) if w[0] <= pd.Timestamp(fills.loc[row, "fill_time"], tz="UTC") < w[1])
    report = _check(alloc, fills, day, window, snapshots=cash)
    assert not report.passed(0.0)
    assert any("price" in m and "backtest" in m for m in report.mismatches)


def test_next_trade_fills_report_the_cost_of_their_latency(day):
    cfg = config(account("a", 10_000, fill_model="next_trade", latency_ms=500,
                         allocations=[allocation("DOUBLE_EMA_CROSSOVER", fees=0.001, slippage_bps=3.0)]))
    fills, _, cash = _run(day, cfg, trades=True)
    (alloc,) = cfg.allocations()
    costs, reports = [], []
    for window in _hours(day):
        report = _check(alloc, fills, day, window, snapshots=cash)
        reports.append(report)
        if report.cost_bps is not None:
            costs.append(report)
    assert costs and all(r.fill_model == "NEXT_TRADE" for r in costs)
    # a fill at the next candle's first trade (its open) 10.5 s late, against the close the backtest fills at
    for report in costs:
        assert 10.0 <= report.mean_latency_s <= report.max_latency_s <= 70.0
    hour = costs[0]
    legs = fills[(fills["allocation_id"] == alloc.id)]
    legs = legs[[hour.window[0] <= pd.Timestamp(t, tz="UTC") + pd.Timedelta(minutes=1) < hour.window[1]
                 for t in legs["candle_time"]]]
    by_hand = []
    for _, leg in legs.iterrows():
        close = day.at[pd.Timestamp(leg["candle_time"], tz="UTC"), "close"]
        backtest_price = close * (1 + 3e-4) if leg["side"] == "BUY" else close * (1 - 3e-4)
        worse = leg["price"] - backtest_price if leg["side"] == "BUY" else backtest_price - leg["price"]
        by_hand.append(worse / backtest_price * 1e4)
    assert hour.cost_bps == pytest.approx(sum(by_hand) / len(by_hand), rel=1e-9)
    assert hour.passed(max_cost_bps=abs(hour.cost_bps) + 1) and not hour.passed(max_cost_bps=hour.cost_bps - 1)
