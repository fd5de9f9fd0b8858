"""Numba kernels of the backtester: plain arrays in, plain arrays out.

The pandas-facing API (``engine.py``) validates inputs and shapes results; these
functions assume valid input and stay fast. One simulation kernel serves single runs and
grids, and one metrics kernel serves both, so a grid column and a single run over the
same signals produce bit-identical numbers.

Semantics (the shared long-only rules of ``tradestream.strategies.positions``):
a bar whose entry holds while flat BUYs; a bar whose exit holds while long SELLs; a
bar with both while flat BUYs only. Orders fill at that bar's close, or at the next
bar's open when ``next_open`` is set (a signal on the last bar then has no fill).
The money of a fill (fees, slippage, sizing) is ``money.py``'s, shared with the order
executor, so a paper allocation and a backtest compute the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tradestream.backtest.money import close_position, open_position, trade_return

# Columns of a trade record (one row per round trip; the last row may be an open trade).
TRADE_ENTRY_BAR = 0
TRADE_EXIT_BAR = 1  # -1 while the trade is still open at the last bar
TRADE_ENTRY_PRICE = 2  # fill price, slippage included
TRADE_EXIT_PRICE = 3  # fill price, slippage included; the last close for an open trade
TRADE_SIZE = 4  # units of the base currency
TRADE_ENTRY_FEES = 5
TRADE_EXIT_FEES = 6
TRADE_PNL = 7  # net of both fees, in quote currency
TRADE_RETURN = 8  # pnl / (size * entry price): the return on the position, as vectorbt defines it
TRADE_EXIT_REASON = 9
TRADE_FIELDS = 10

EXIT_SIGNAL = 0
EXIT_STOP_LOSS = 1
EXIT_TAKE_PROFIT = 2
EXIT_TRAILING_STOP = 3
EXIT_STILL_OPEN = 4

# Streaming statistics of closed trades, filled by the simulation for the metrics kernel.
STAT_CLOSED = 0
STAT_WINS = 1
STAT_GROSS_PROFIT = 2
STAT_GROSS_LOSS = 3
STAT_SUM_RETURN = 4
STAT_SUM_BARS = 5
STAT_BARS_IN_MARKET = 6
STAT_OPEN_AT_END = 7
STAT_FIELDS = 8

# Order of the metrics vector; ``metrics.METRIC_NAMES`` names the same slots.
M_TOTAL_RETURN = 0
M_CAGR = 1
M_VOLATILITY = 2
M_SHARPE = 3
M_SORTINO = 4
M_CALMAR = 5
M_MAX_DRAWDOWN = 6
M_MAX_DRAWDOWN_BARS = 7
M_WIN_RATE = 8
M_PROFIT_FACTOR = 9
M_EXPECTANCY = 10
M_TRADES = 11
M_AVG_TRADE_BARS = 12
M_EXPOSURE = 13
M_ALPHA = 14
M_BETA = 15
M_SCORE = 16
M_FINAL_EQUITY = 17
M_FIELDS = 18


def trade_capacity(bars: int, has_stops: bool) -> int:
    """Rows a trade buffer needs: a round trip spans two bars unless stops allow one per bar."""
    return bars + 1 if has_stops else bars // 2 + 2


@njit(cache=True)
def long_only_actions(entries: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """BUY (+1) / SELL (-1) / nothing (0) per bar under the shared long-only rules."""
    n = entries.shape[0]
    actions = np.zeros(n, dtype=np.int8)
    long = False
    for i in range(n):
        if not long:
            if entries[i]:
                actions[i] = 1
                long = True
        elif exits[i]:
            actions[i] = -1
            long = False
    return actions


@njit(cache=True)
def _book_close(units: float, market: float, cash: float, committed: float, fees: float, slippage: float,
                    entry_bar: int, entry_price: float, entry_fees: float, exit_bar: int, reason: int,
                    stats: np.ndarray, trades: np.ndarray, row_index: int) -> float:
    """Sell everything at ``market`` (``money.close_position``); book the round trip; return the new cash."""
    fill, exit_fees, proceeds, pnl = close_position(units, market, committed, fees, slippage)
    ret = trade_return(pnl, units, entry_price)
    stats[STAT_CLOSED] += 1.0
    if pnl > 0.0:
        stats[STAT_WINS] += 1.0
        stats[STAT_GROSS_PROFIT] += pnl
    else:
        stats[STAT_GROSS_LOSS] -= pnl
    stats[STAT_SUM_RETURN] += ret
    stats[STAT_SUM_BARS] += exit_bar - entry_bar
    if trades.shape[0] > 0:
        row = trades[row_index]
        row[TRADE_ENTRY_BAR] = entry_bar
        row[TRADE_EXIT_BAR] = exit_bar
        row[TRADE_ENTRY_PRICE] = entry_price
        row[TRADE_EXIT_PRICE] = fill
        row[TRADE_SIZE] = units
        row[TRADE_ENTRY_FEES] = entry_fees
        row[TRADE_EXIT_FEES] = exit_fees
        row[TRADE_PNL] = pnl
        row[TRADE_RETURN] = ret
        row[TRADE_EXIT_REASON] = reason
    return cash + proceeds


@njit(cache=True)
def simulate_long_only(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    cash0: float,
    fees: float,
    slippage: float,
    size_fraction: float,
    next_open: bool,
    stop_loss: float,
    take_profit: float,
    trailing_stop: float,
    equity: np.ndarray,
    position: np.ndarray,
    trades: np.ndarray,
    stats: np.ndarray,
) -> int:
    """Simulate one long-only account; returns the number of trade rows written.

    ``equity`` (length n) receives cash + units * close per bar. ``position`` (length n,
    or length 0 to skip) receives the units held at each close. ``trades`` (rows >=
    ``trade_capacity``, or 0 rows to skip recording) receives trade records; ``stats``
    always receives closed-trade statistics. Stops are fractions of the entry's market
    price (NaN or 0 disables them) and are checked on the bars after a close fill, or
    from the fill bar on after an open fill.
    """
    n = close.shape[0]
    record = trades.shape[0] > 0
    keep_position = position.shape[0] > 0
    use_sl = stop_loss > 0.0
    use_tp = take_profit > 0.0
    use_ts = trailing_stop > 0.0
    any_stop = use_sl or use_tp or use_ts
    for k in range(STAT_FIELDS):
        stats[k] = 0.0

    cash = cash0
    units = 0.0
    pending = 0  # +1 buy / -1 sell at this bar's open (next_open fills)
    n_rows = 0
    entry_bar = 0
    entry_price = 0.0
    entry_fees = 0.0
    committed = 0.0
    reference = 0.0  # market price at entry: the base of stop levels
    peak = 0.0
    stops_from = 0
    bars_in_market = 0

    for i in range(n):
        # Fast path for the bars where nothing can happen (most of them).
        if pending == 0:
            if units == 0.0:
                if not entries[i]:
                    equity[i] = cash
                    if keep_position:
                        position[i] = 0.0
                    continue
            elif not any_stop and not exits[i]:
                equity[i] = cash + units * close[i]
                if keep_position:
                    position[i] = units
                bars_in_market += 1
                continue

        exit_price = math.nan
        exit_reason = EXIT_SIGNAL
        if pending == 1:
            pending = 0
            units, cash, committed, entry_fees, entry_price = open_position(
                open_[i], cash, fees, slippage, size_fraction)
            entry_bar, reference, peak, stops_from = i, open_[i], open_[i], i
        elif pending == -1:
            pending = 0
            exit_price = open_[i]

        if units > 0.0 and math.isnan(exit_price) and any_stop and i >= stops_from:
            stop_level = -math.inf
            stop_reason = EXIT_STOP_LOSS
            if use_sl:
                stop_level = reference * (1.0 - stop_loss)
            if use_ts:
                trail_level = peak * (1.0 - trailing_stop)
                if trail_level > stop_level:
                    stop_level = trail_level
                    stop_reason = EXIT_TRAILING_STOP
            target = reference * (1.0 + take_profit) if use_tp else math.inf
            # A gap through a level fills at the open; within the bar the stop is assumed
            # to come before the target (the conservative order, since OHLC hides it).
            if open_[i] <= stop_level:
                exit_price, exit_reason = open_[i], stop_reason
            elif open_[i] >= target:
                exit_price, exit_reason = open_[i], EXIT_TAKE_PROFIT
            elif low[i] <= stop_level:
                exit_price, exit_reason = stop_level, stop_reason
            elif high[i] >= target:
                exit_price, exit_reason = target, EXIT_TAKE_PROFIT
            elif use_ts:
                peak = max(peak, high[i])
                # The close comes after the high: a close under the raised trail crossed it.
                trail_level = peak * (1.0 - trailing_stop)
                if close[i] <= trail_level:
                    exit_price, exit_reason = trail_level, EXIT_TRAILING_STOP

        # The signal at this bar's close: exits are looked at only while long, entries only while flat.
        long_at_close = units > 0.0 and math.isnan(exit_price)
        if pending == 0 and long_at_close and exits[i]:
            if not next_open:
                exit_price = close[i]
            elif i + 1 < n:
                pending = -1

        if not math.isnan(exit_price):
            cash = _book_close(units, exit_price, cash, committed, fees, slippage, entry_bar, entry_price,
                                   entry_fees, i, exit_reason, stats, trades, n_rows)
            if record:
                n_rows += 1
            units = 0.0

        if pending == 0 and not long_at_close and units == 0.0 and entries[i] and cash > 0.0:
            if next_open:
                if i + 1 < n:
                    pending = 1
            else:
                units, cash, committed, entry_fees, entry_price = open_position(
                    close[i], cash, fees, slippage, size_fraction)
                entry_bar, reference, peak, stops_from = i, close[i], close[i], i + 1

        equity[i] = cash + units * close[i]
        if keep_position:
            position[i] = units
        if units > 0.0:
            bars_in_market += 1

    stats[STAT_BARS_IN_MARKET] = bars_in_market
    if units > 0.0:
        stats[STAT_OPEN_AT_END] = 1.0
        if record:
            mark = units * close[n - 1]
            row = trades[n_rows]
            row[TRADE_ENTRY_BAR] = entry_bar
            row[TRADE_EXIT_BAR] = -1
            row[TRADE_ENTRY_PRICE] = entry_price
            row[TRADE_EXIT_PRICE] = close[n - 1]
            row[TRADE_SIZE] = units
            row[TRADE_ENTRY_FEES] = entry_fees
            row[TRADE_EXIT_FEES] = 0.0
            row[TRADE_PNL] = mark - committed
            row[TRADE_RETURN] = trade_return(mark - committed, units, entry_price)
            row[TRADE_EXIT_REASON] = EXIT_STILL_OPEN
            n_rows += 1
    return n_rows


@njit(cache=True)
def _norm(x: float) -> float:
    """TradeStream's score normalization clamp((x + 1) / 3, 0, 1); NaN counts as 0."""
    if math.isnan(x):
        return 0.0
    v = (x + 1.0) / 3.0
    return min(max(v, 0.0), 1.0)


@njit(cache=True)
def asset_returns(close: np.ndarray) -> np.ndarray:
    """Per-bar returns of holding the asset (0 on the first bar): the benchmark of alpha and beta."""
    n = close.shape[0]
    out = np.empty(n, dtype=np.float64)
    out[0] = 0.0
    for i in range(1, n):
        out[i] = close[i] / close[i - 1] - 1.0
    return out


@njit(cache=True)
def compute_metrics(
    equity: np.ndarray, market_returns: np.ndarray, cash0: float, periods_per_year: float, stats: np.ndarray,
    scratch: np.ndarray, out: np.ndarray,
) -> None:
    """Fill ``out`` (length M_FIELDS) from an equity curve and closed-trade statistics.

    Per-bar returns r_t = E_t / E_{t-1} - 1 with E_{-1} = starting cash. ``market_returns``
    comes from ``asset_returns``; ``scratch`` (length n) is working memory. Formulas are
    spelled out in docs/backtesting.md; keep the two in step.
    """
    n = equity.shape[0]
    final = equity[n - 1]
    out[M_FINAL_EQUITY] = final
    growth = final / cash0
    out[M_TOTAL_RETURN] = growth - 1.0
    out[M_CAGR] = growth ** (periods_per_year / n) - 1.0 if growth > 0.0 else -1.0

    # Pass 1: returns, their sum, and the drawdown against the running peak (the starting
    # cash being the first peak).
    prev = cash0
    total = 0.0
    peak = cash0
    peak_bar = -1
    max_dd = 0.0
    dd_peak_bar = -1
    dd_trough_bar = -1
    floor = peak  # below this value lies a deeper drawdown: one division per new record, not per bar
    for i in range(n):
        value = equity[i]
        r = value / prev - 1.0
        scratch[i] = r
        total += r
        prev = value
        if value >= peak:
            peak = value
            peak_bar = i
            floor = peak * (1.0 - max_dd)
        elif value < floor:
            dd = 1.0 - value / peak
            if dd > max_dd:
                max_dd = dd
                dd_peak_bar = peak_bar
                dd_trough_bar = i
            floor = value
    mean = total / n

    # Pass 2: deviations from the mean (two passes keep the variance numerically stable),
    # downside, and the covariance with the asset over bars 1..n-1.
    squares = 0.0
    downside = 0.0
    for i in range(n):
        d = scratch[i] - mean
        squares += d * d
        if scratch[i] < 0.0:
            downside += scratch[i] * scratch[i]
    std = math.sqrt(squares / (n - 1)) if n > 1 else 0.0
    root_ann = math.sqrt(periods_per_year)
    out[M_VOLATILITY] = std * root_ann
    out[M_SHARPE] = mean / std * root_ann if std > 0.0 else 0.0
    downside_dev = math.sqrt(downside / n)
    if downside_dev > 0.0:
        out[M_SORTINO] = mean / downside_dev * root_ann
    else:
        out[M_SORTINO] = math.inf if mean > 0.0 else 0.0

    out[M_MAX_DRAWDOWN] = max_dd
    if dd_trough_bar < 0:
        out[M_MAX_DRAWDOWN_BARS] = 0.0
    else:
        peak_value = cash0 if dd_peak_bar < 0 else equity[dd_peak_bar]
        recovered = n - 1
        for j in range(dd_trough_bar + 1, n):
            if equity[j] >= peak_value:
                recovered = j
                break
        out[M_MAX_DRAWDOWN_BARS] = recovered - dd_peak_bar
    if max_dd > 0.0:
        out[M_CALMAR] = out[M_CAGR] / max_dd
    else:
        out[M_CALMAR] = math.inf if out[M_CAGR] > 0.0 else 0.0

    closed = stats[STAT_CLOSED]
    out[M_TRADES] = closed
    if closed > 0.0:
        out[M_WIN_RATE] = stats[STAT_WINS] / closed
        out[M_EXPECTANCY] = stats[STAT_SUM_RETURN] / closed
        out[M_AVG_TRADE_BARS] = stats[STAT_SUM_BARS] / closed
        if stats[STAT_GROSS_LOSS] > 0.0:
            out[M_PROFIT_FACTOR] = stats[STAT_GROSS_PROFIT] / stats[STAT_GROSS_LOSS]
        else:
            out[M_PROFIT_FACTOR] = math.inf if stats[STAT_GROSS_PROFIT] > 0.0 else 0.0
    else:
        out[M_WIN_RATE] = 0.0
        out[M_EXPECTANCY] = 0.0
        out[M_AVG_TRADE_BARS] = 0.0
        out[M_PROFIT_FACTOR] = 0.0
    out[M_EXPOSURE] = stats[STAT_BARS_IN_MARKET] / n

    # Alpha and beta against holding the asset, over bars 1..n-1 (where both returns exist).
    out[M_BETA] = 0.0
    out[M_ALPHA] = 0.0
    if n > 2:
        mean_s = (total - scratch[0]) / (n - 1)
        mean_m = 0.0
        for i in range(1, n):
            mean_m += market_returns[i]
        mean_m /= n - 1
        cov = 0.0
        var_m = 0.0
        for i in range(1, n):
            dm = market_returns[i] - mean_m
            cov += (scratch[i] - mean_s) * dm
            var_m += dm * dm
        if var_m > 0.0:
            beta = cov / var_m
            out[M_BETA] = beta
            out[M_ALPHA] = (mean_s - beta * mean_m) * periods_per_year

    out[M_SCORE] = (0.25 * _norm(out[M_SHARPE]) + 0.20 * (1.0 - max_dd) + 0.20 * out[M_WIN_RATE]
                    + 0.20 * _norm(out[M_CAGR]) + 0.15 * _norm(out[M_PROFIT_FACTOR]))


@njit(cache=True, parallel=True)
def simulate_grid(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    cash0: float,
    fees: float,
    slippage: float,
    size_fraction: float,
    next_open: bool,
    stop_loss: float,
    take_profit: float,
    trailing_stop: float,
    periods_per_year: float,
    workers: int,
) -> np.ndarray:
    """Metrics (combos x M_FIELDS) for signal rows ``entries[j]``/``exits[j]`` (combos x bars).

    ``workers`` parallel loops (one per thread, ``numba.get_num_threads()``) share the combinations.
    """
    combos = entries.shape[0]
    n = close.shape[0]
    out = np.empty((combos, M_FIELDS), dtype=np.float64)
    no_position = np.empty(0, dtype=np.float64)
    no_trades = np.empty((0, TRADE_FIELDS), dtype=np.float64)
    market = asset_returns(close)
    # One worker per thread, each reusing its buffers: allocating fresh ones per combination
    # costs more in page faults than the simulation itself on long histories.
    workers = max(1, min(workers, combos))
    for worker in prange(workers):
        equity = np.empty(n, dtype=np.float64)
        scratch = np.empty(n, dtype=np.float64)
        stats = np.empty(STAT_FIELDS, dtype=np.float64)
        for j in range(worker, combos, workers):
            simulate_long_only(open_, high, low, close, entries[j], exits[j], cash0, fees, slippage, size_fraction,
                               next_open, stop_loss, take_profit, trailing_stop, equity, no_position, no_trades,
                               stats)
            compute_metrics(equity, market, cash0, periods_per_year, stats, scratch, out[j])
    return out
