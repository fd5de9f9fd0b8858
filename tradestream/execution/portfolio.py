"""Equity and drawdown of each allocation and account, marked to market at every candle close.

An allocation's state between fills is its newest position snapshot (``positions`` rows: units and
cash after each fill); its equity at a candle's close is ``cash + units * close``, the same
valuation the backtester's equity curve uses (``run_backtest``: cash plus units at the close), so
a ``candle_close`` allocation's curve equals its backtest's bar for bar. Before its first fill an
allocation holds its starting cash. An account's equity is the sum of its allocations' (each
carried forward to the account's common times); drawdown is equity against its running peak
within the curve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tradestream.store import PORTFOLIO_TABLE_COLUMNS as PORTFOLIO_COLUMNS
from tradestream.timeframes import parse_timeframe

ACCOUNT_TOTAL = "(account)"


def allocation_curve(positions: pd.DataFrame, closes: pd.Series, timeframe: str) -> pd.DataFrame:
    """One allocation's curve: ``positions`` (its snapshots, ``as_of``, ``units``, ``cash``,
    ``starting_cash``) and ``closes`` (its pair's closes by candle window start, UTC) -> a row per
    candle close with units, cash, close, equity and drawdown."""
    bar = parse_timeframe(timeframe).timedelta
    times = (pd.DatetimeIndex(closes.index) + bar).as_unit("ns")
    snaps = positions.sort_values("as_of")
    as_of = pd.DatetimeIndex(pd.to_datetime(snaps["as_of"]))
    as_of = (as_of.tz_localize("UTC") if as_of.tz is None else as_of.tz_convert("UTC")).as_unit("ns")
    # the newest snapshot at or before each close (a fill at the close counts: the backtest fills there)
    at = np.searchsorted(as_of.asi8, times.asi8, side="right") - 1
    units = np.where(at >= 0, snaps["units"].to_numpy()[np.maximum(at, 0)], 0.0)
    start_cash = float(snaps["starting_cash"].iloc[0]) if len(snaps) else 0.0
    cash = np.where(at >= 0, snaps["cash"].to_numpy()[np.maximum(at, 0)], start_cash)
    equity = cash + units * closes.to_numpy()
    curve = pd.DataFrame({"time": times, "units": units, "cash": cash, "close": closes.to_numpy(), "equity": equity})
    curve["drawdown"] = _drawdown(curve["equity"])
    return curve


def portfolio_curves(positions: pd.DataFrame, closes: Callable[[str, str], pd.Series]) -> pd.DataFrame:
    """Every allocation's curve and every account's total (``allocation_id`` = ``ACCOUNT_TOTAL``).

    ``positions``: rows of the ``positions`` table; ``closes(pair, timeframe)``: that pair's closes by
    window start over the span wanted (an allocation without candles there has no curve).
    """
    frames = []
    for allocation_id, snaps in positions.groupby("allocation_id", sort=True):
        first = snaps.iloc[0]
        series = closes(str(first["currency_pair"]), str(first["timeframe"]))
        if series.empty:
            continue
        curve = allocation_curve(snaps, series, str(first["timeframe"]))
        curve.insert(1, "account", str(first["account"]))
        curve.insert(2, "allocation_id", str(allocation_id))
        curve.insert(3, "currency_pair", str(first["currency_pair"]))
        curve.insert(4, "timeframe", str(first["timeframe"]))
        frames.append(curve)
    if not frames:
        return pd.DataFrame(columns=list(PORTFOLIO_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    totals = []
    for account, rows in out.groupby("account", sort=True):
        wide = rows.pivot_table(index="time", columns="allocation_id", values="equity").sort_index().ffill().bfill()
        equity = wide.sum(axis=1)
        total = pd.DataFrame({"time": equity.index, "account": account, "allocation_id": ACCOUNT_TOTAL,
                              "currency_pair": "", "timeframe": "", "units": np.nan, "cash": np.nan,
                              "close": np.nan, "equity": equity.to_numpy()})
        total["drawdown"] = _drawdown(total["equity"])
        totals.append(total)
    return pd.concat([out, *totals], ignore_index=True)[list(PORTFOLIO_COLUMNS)]


def summary(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per account and allocation: first and last equity, return, max drawdown."""
    rows = []
    for (account, allocation_id), c in curves.sort_values("time").groupby(["account", "allocation_id"], sort=True):
        first, last = float(c["equity"].iloc[0]), float(c["equity"].iloc[-1])
        rows.append({"account": account, "allocation": allocation_id, "equity": last,
                     "return": last / first - 1.0 if first else np.nan, "max_drawdown": float(c["drawdown"].min())})
    return pd.DataFrame(rows, columns=["account", "allocation", "equity", "return", "max_drawdown"])


def _drawdown(equity: pd.Series) -> np.ndarray:
    peak = equity.cummax()
    return np.where(peak > 0, equity / peak - 1.0, 0.0)
