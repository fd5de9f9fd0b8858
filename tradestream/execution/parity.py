"""Live against backtest: an allocation's executed trades next to a backtest of the same candles.

``compare_allocation`` runs the backtester (``run_backtest``, the kernel the executor shares its
money math with) on the candles of the allocation's pair and timeframe, with the allocation's
strategy, parameters and ``BacktestConfig``, and lines its trades up with the executed ones,
leg by leg (an entry or an exit; a venue order's partial fills summed into one leg):

* The backtest's signals are the strategy engine's: ``trade_signals`` of the vectorized rule,
  which the live engine equals bar for bar. Signals the risk engine refused (their ids are
  deterministic, so the refused ones are known) are taken out: the backtest then shows what
  the strategy did with what the risk engine let through. The kernel, like the executor,
  enters only when flat and exits only when long, so a SELL after a refused BUY changes
  nothing in either.
* The comparison is anchored where the allocation was last flat before the window (its last
  exit, or the entry of the position it holds), with its cash at that moment: the backtest
  starts there with that cash, so sizing reads the same cash as the executor did. The
  indicators see history from well before the anchor (``HISTORY_BARS`` more than the
  strategy's window), so their values and the engine's position are settled.
* ``candle_close`` fills must equal the backtest: same candles, prices, sizes, fees and P&L
  to ``rtol``. ``next_trade`` and venue fills cannot; for them the report gives what the
  difference cost: each leg's price against the backtest's in basis points (positive: worse
  for the trader), in quote currency, and the latency from the candle's close to the fill.

An allocation's comparison starts at its first fill: what the backtest trades before it
happened while nobody executed the allocation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tradestream.backtest.candles import validate_candles
from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.engine import run_backtest, strategy_signals
from tradestream.params import ParamValue
from tradestream.strategies import get_strategy
from tradestream.strategies.live import LiveSignal
from tradestream.strategies.positions import BUY, SELL, trade_signals
from tradestream.timeframes import parse_timeframe

#: Bars of history before the anchor besides the strategy's own window: recursive indicators and the
#: long-only position path settle (the position of two runs started apart agrees from the first exit on).
HISTORY_BARS = 1440
RTOL = 1e-9
CANDLE_CLOSE = "CANDLE_CLOSE"


@dataclass(frozen=True)
class Leg:
    """One side of a round trip: an entry (BUY) or an exit (SELL)."""

    candle_time: pd.Timestamp        # the signal's candle (window start, UTC)
    side: str                        # "BUY" or "SELL"
    price: float                     # fill price, slippage included (size-weighted over fills)
    size: float
    fee: float
    realized_pnl: float = 0.0
    fill_time: pd.Timestamp | None = None
    quote_amount: float = 0.0        # executed legs: cash spent (BUY) or received (SELL), fees included
    fill_id: str = ""                # executed legs: the last fill's id

    @property
    def key(self) -> tuple[pd.Timestamp, str]:
        return self.candle_time, self.side


@dataclass
class ParityReport:
    """How one allocation's executed legs in a window compare with its backtest."""

    allocation_id: str
    fill_model: str
    window: tuple[pd.Timestamp, pd.Timestamp]
    anchor: pd.Timestamp | None = None
    legs_compared: int = 0
    missing: list[str] = field(default_factory=list)       # backtest legs nobody executed
    extra: list[str] = field(default_factory=list)         # executed legs the backtest does not have
    mismatches: list[str] = field(default_factory=list)    # candle_close: fields that differ
    refused_signals: int = 0
    cost_bps: float | None = None                          # mean over legs; positive: worse than the backtest
    cost_quote: float = 0.0
    mean_latency_s: float | None = None
    max_latency_s: float | None = None
    note: str = ""

    @property
    def exact(self) -> bool:
        return not (self.missing or self.extra or self.mismatches)

    def passed(self, max_cost_bps: float) -> bool:
        """candle_close: equal; otherwise the cost against the backtest within ``max_cost_bps``."""
        if self.fill_model == CANDLE_CLOSE:
            return self.exact
        return self.cost_bps is None or self.cost_bps <= max_cost_bps


def executed_legs(fills: pd.DataFrame) -> list[Leg]:
    """One allocation's fills (rows of the ``fills`` table) as legs, a venue order's fills summed."""
    legs = []
    for _, group in fills.sort_values(["fill_time", "fill_id"]).groupby("client_order_id", sort=False):
        size = float(group["size"].sum())
        price = float((group["price"] * group["size"]).sum() / size) if size > 0 else float(group["price"].iloc[0])
        first = group.iloc[0]
        legs.append(Leg(_utc(first["candle_time"]), str(first["side"]), price, size, float(group["fee"].sum()),
                        float(group["realized_pnl"].sum()), _utc(first["fill_time"]),
                        float(group["quote_amount"].sum()), str(group["fill_id"].iloc[-1])))
    return sorted(legs, key=lambda leg: (leg.candle_time, leg.side == "BUY"))


def backtest_legs(candles: pd.DataFrame, strategy: str, params: Mapping[str, ParamValue], config: BacktestConfig,
                  pair: str, timeframe: str, anchor: pd.Timestamp,
                  refused: Iterable[str] = ()) -> tuple[list[Leg], int]:
    """The backtest's legs from ``anchor`` on (and how many of the strategy's signals were taken out as
    refused by the risk engine: ``refused`` holds their signal ids)."""
    spec = get_strategy(strategy)
    values = spec.space.validate(dict(params))
    candles, _ = validate_candles(candles, timeframe, allow_gaps=True)
    entries, exits = strategy_signals(candles, spec, values)
    actions = trade_signals(pd.Series(entries, index=candles.index), pd.Series(exits, index=candles.index))
    actions[actions.index < anchor] = 0
    refused = set(refused)
    taken_out = 0
    if refused:
        for at in actions.index[actions.to_numpy() != 0]:
            kind = "BUY" if actions[at] == BUY else "SELL"
            if LiveSignal(spec.name, values, pair, timeframe, at, 0.0, kind, "").signal_id in refused:
                actions[at] = 0
                taken_out += 1
    run = run_backtest(candles, (actions == BUY).to_numpy(), (actions == SELL).to_numpy(), config,
                       timeframe=timeframe, allow_gaps=True)
    legs = []
    for trade in run.trades.itertuples():
        legs.append(Leg(trade.entry_time, "BUY", trade.entry_price, trade.size, trade.entry_fees))
        if trade.exit_reason != "open":
            legs.append(Leg(trade.exit_time, "SELL", trade.exit_price, trade.size, trade.exit_fees, trade.pnl))
    return legs, taken_out


def cash_after_legs(legs: list[Leg], starting_cash: float, snapshots: Mapping[str, float] | None = None) -> list[float]:
    """The allocation's cash after each leg: from its position snapshots (``snapshots``: cash by last
    fill id) where there is one, else carried forward by the legs' cash flows."""
    out, cash = [], starting_cash
    for leg in legs:
        cash = cash - leg.quote_amount if leg.side == "BUY" else cash + leg.quote_amount
        cash = (snapshots or {}).get(leg.fill_id, cash)
        out.append(cash)
    return out


def anchor_of(legs: list[Leg], start: pd.Timestamp, cash_after: list[float],
              starting_cash: float, bar: pd.Timedelta) -> tuple[pd.Timestamp | None, float]:
    """Where the comparison starts and the allocation's cash there.

    A leg belongs to the window its candle closes in, so the legs before the window are those whose
    candle closed before ``start``. ``cash_after[i]`` is the allocation's cash after executed leg
    ``i``. Flat at ``start``: the candle that closes at ``start`` (the first one whose signal falls in
    the window), with the cash after its last exit. Long: the candle of the entry it holds, with the
    cash before that entry. No leg before ``start``: its first leg (None: no legs).
    """
    before = [i for i, leg in enumerate(legs) if leg.candle_time + bar < start]
    if not before:
        return (legs[0].candle_time, starting_cash) if legs else (None, starting_cash)
    last = before[-1]
    if legs[last].side == "SELL":
        return start - bar, cash_after[last]
    return legs[last].candle_time, cash_after[last] + legs[last].quote_amount


def compare_allocation(allocation_id: str, fill_model: str, executed: list[Leg], expected: list[Leg],
                       window: tuple[pd.Timestamp, pd.Timestamp], timeframe: str, *,
                       anchor: pd.Timestamp | None = None, refused_signals: int = 0,
                       rtol: float = RTOL) -> ParityReport:
    """Line up the legs whose candle closes inside ``window`` and report the differences."""
    bar = parse_timeframe(timeframe).timedelta
    start, end = window

    def inside(leg: Leg) -> bool:
        return start <= leg.candle_time + bar < end and (anchor is None or leg.candle_time >= anchor)

    report = ParityReport(allocation_id, fill_model, window, anchor=anchor, refused_signals=refused_signals)
    mine = {leg.key: leg for leg in executed if inside(leg)}
    theirs = {leg.key: leg for leg in expected if inside(leg)}
    report.missing = [_describe(theirs[k]) for k in sorted(set(theirs) - set(mine))]
    report.extra = [_describe(mine[k]) for k in sorted(set(mine) - set(theirs))]
    costs, quotes, latencies = [], 0.0, []
    for key in sorted(set(mine) & set(theirs)):
        got, want = mine[key], theirs[key]
        report.legs_compared += 1
        if fill_model == CANDLE_CLOSE:
            fields = ("price", "size", "fee") + (("realized_pnl",) if got.side == "SELL" else ())
            for name in fields:
                a, b = getattr(got, name), getattr(want, name)
                if not math.isclose(a, b, rel_tol=rtol, abs_tol=rtol):
                    report.mismatches.append(f"{_describe(got)}: {name} {a!r} != backtest {b!r}")
            continue
        worse = (got.price - want.price) if got.side == "BUY" else (want.price - got.price)
        costs.append(worse / want.price * 1e4)
        quotes += worse * got.size
        if got.fill_time is not None:
            latencies.append((got.fill_time - (got.candle_time + bar)).total_seconds())
    if costs:
        report.cost_bps = float(np.mean(costs))
        report.cost_quote = float(quotes)
    if latencies:
        report.mean_latency_s, report.max_latency_s = float(np.mean(latencies)), float(np.max(latencies))
    return report


def check_allocation(allocation_id: str, strategy: str, params: Mapping[str, ParamValue], pair: str,
                     timeframe: str, trading: BacktestConfig, fills: pd.DataFrame,
                     candles: Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame],
                     window: tuple[pd.Timestamp, pd.Timestamp], *, starting_cash: float,
                     snapshots: Mapping[str, float] | None = None, refused: Iterable[str] = (),
                     rtol: float = RTOL) -> ParityReport:
    """One allocation in one window, from its fills up to the window's end (``fills``: rows of the
    ``fills`` table), its position snapshots' cash by fill id and the ids of the signals the risk
    engine refused. ``candles(start, end)`` gives the pair's candles with window starts in
    ``[start, end)``; they are asked for from well before the anchor."""
    legs = executed_legs(fills)
    models = sorted(set(fills["fill_model"])) if len(fills) else [CANDLE_CLOSE]
    model = CANDLE_CLOSE if models == [CANDLE_CLOSE] else next(m for m in models if m != CANDLE_CLOSE)
    bar = parse_timeframe(timeframe).timedelta
    anchor, cash = anchor_of(legs, window[0], cash_after_legs(legs, starting_cash, snapshots), starting_cash, bar)
    if anchor is None:
        return ParityReport(allocation_id, model, window, note="no fills yet")
    if anchor >= window[1]:
        return ParityReport(allocation_id, model, window, anchor=anchor, note="first fill after the window")
    config = BacktestConfig(cash=cash, fees=trading.fees, slippage_bps=trading.slippage_bps, size=trading.size)
    spec = get_strategy(strategy)
    bars = spec.window(spec.space.validate(dict(params))) + HISTORY_BARS
    history = candles(anchor - bars * bar, window[1])
    expected, taken_out = backtest_legs(history, strategy, params, config, pair, timeframe, anchor, refused)
    return compare_allocation(allocation_id, model, legs, expected, window, timeframe, anchor=anchor,
                              refused_signals=taken_out, rtol=rtol)


def _describe(leg: Leg) -> str:
    return f"{leg.side} on the candle of {leg.candle_time:%Y-%m-%d %H:%M} at {leg.price:.6g} x {leg.size:.6g}"


def _utc(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
