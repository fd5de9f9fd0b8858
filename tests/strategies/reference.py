"""Independent references for the strategy checks: TA-Lib and short NumPy formulas.

Nothing here imports pandas-ta or ``tradestream.strategies``: each function computes an
indicator from its published definition (TA-Lib's C library where TA-Lib has it, else a
few lines of NumPy with the source named), so a test comparing the library's signals
with these compares two implementations that share no code.

Where TA-Lib and pandas-ta define an indicator alike but seed it differently (Wilder's
RSI/ATR/ADX, TA-Lib's EMA-of-A/D, KAMA), the references use TA-Lib anyway: the cases
put their events long after the seed's weight has vanished (see the parity report,
``indicator_parity.py``, for how long that is).
"""

from __future__ import annotations

import math

import numpy as np
import talib
from numpy.lib.stride_tricks import sliding_window_view

Array = np.ndarray


# --------------------------------------------------------------------------- rule primitives
# The rule language's published semantics (docs/strategies.md): a comparison with a
# missing value is False; "a crosses above b" is a > b now and a <= b on the bar before.

def above(a: Array, b: Array | float) -> Array:
    with np.errstate(invalid="ignore"):
        return np.asarray(a > b, dtype=bool)


def below(a: Array, b: Array | float) -> Array:
    with np.errstate(invalid="ignore"):
        return np.asarray(a < b, dtype=bool)


def cross_up(a: Array, b: Array | float) -> Array:
    b = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
    out = np.zeros(a.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
    return out


def cross_down(a: Array, b: Array | float) -> Array:
    b = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
    out = np.zeros(a.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
    return out


def shift(x: Array, bars: int = 1) -> Array:
    out = np.full(x.shape, np.nan)
    out[bars:] = x[:-bars]
    return out


def run_of(cond: Array, bars: int) -> Array:
    """``cond`` held on each of the last ``bars`` bars."""
    out = np.zeros(cond.shape, dtype=bool)
    for t in range(bars - 1, cond.size):
        out[t] = cond[t - bars + 1: t + 1].all()
    return out


def any_of_last(cond: Array, bars: int) -> Array:
    """``cond`` held on at least one of the last ``bars`` bars (fewer at the start)."""
    return np.array([cond[max(0, t - bars + 1): t + 1].any() for t in range(cond.size)])


# --------------------------------------------------------------------------- rolling windows

def rolling(x: Array, n: int, reduce) -> Array:
    out = np.full(x.shape, np.nan)
    if x.size >= n:
        out[n - 1:] = reduce(sliding_window_view(x, n), axis=1)
    return out


def sma(x: Array, n: int) -> Array:
    """Simple mean of the last n values; NaN while any of them is missing (pandas' rolling mean)."""
    return rolling(x, n, np.mean)


def rolling_sum(x: Array, n: int) -> Array:
    return rolling(x, n, np.sum)


def highest(x: Array, n: int) -> Array:
    return rolling(x, n, np.max)


def lowest(x: Array, n: int) -> Array:
    return rolling(x, n, np.min)


def ema(x: Array, n: int) -> Array:
    """EMA with alpha 2/(n+1) seeded with the SMA of the first n valid values (TA-Lib's and
    pandas-ta's seed), computed over the valid tail of ``x`` (an EMA of an indicator starts
    where that indicator does)."""
    out = np.full(x.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(x))
    if valid.size < n:
        return out
    first = valid[0]
    alpha = 2.0 / (n + 1.0)
    value = float(np.mean(x[first: first + n]))
    out[first + n - 1] = value
    for t in range(first + n, x.size):
        value = alpha * x[t] + (1.0 - alpha) * value
        out[t] = value
    return out


def sample_std(x: Array, n: int) -> Array:
    """Rolling standard deviation with Bessel's correction (ddof=1), pandas-ta's default."""
    return rolling(x, n, lambda w, axis: np.std(w, axis=axis, ddof=1))


def vwma(x: Array, volume: Array, n: int) -> Array:
    return rolling_sum(x * volume, n) / rolling_sum(volume, n)


def roc(x: Array, n: int) -> Array:
    return 100.0 * (x / shift(x, n) - 1.0)


# --------------------------------------------------------------------------- indicators TA-Lib lacks
# or defines differently from the product (each with its definition's source).

def cmo_chande(close: Array, n: int) -> Array:
    """Chande (1994): 100 (Su - Sd) / (Su + Sd) over the last n one-bar changes. TA-Lib's CMO
    smooths the sums the Wilder way instead, so it is not the reference here."""
    change = np.diff(close, prepend=np.nan)
    up = rolling_sum(np.where(change > 0, change, 0.0), n)
    down = rolling_sum(np.where(change < 0, -change, 0.0), n)
    out = 100.0 * (up - down) / (up + down)
    out[:n] = np.nan
    return out


def cmf(high: Array, low: Array, close: Array, volume: Array, n: int) -> Array:
    """Chaikin money flow: sum of money-flow volume / sum of volume over n bars."""
    mfv = ((close - low) - (high - close)) / (high - low) * volume
    return rolling_sum(mfv, n) / rolling_sum(volume, n)


def heikin_ashi(open_: Array, high: Array, low: Array, close: Array) -> tuple[Array, Array]:
    """(HA open, HA close): HA close = OHLC/4; HA open = mean of the previous HA open and close,
    seeded with (open + close) / 2 on the first bar."""
    ha_close = (open_ + high + low + close) / 4.0
    ha_open = np.empty_like(close)
    ha_open[0] = (open_[0] + close[0]) / 2.0
    for t in range(1, close.size):
        ha_open[t] = (ha_open[t - 1] + ha_close[t - 1]) / 2.0
    return ha_open, ha_close


def midpoint(high: Array, low: Array, n: int) -> Array:
    return (highest(high, n) + lowest(low, n)) / 2.0


def ichimoku(high: Array, low: Array, tenkan: int, kijun: int, senkou: int) -> tuple[Array, ...]:
    """Hosoda's lines: tenkan and kijun are n-bar midpoints; span A (their mean) and span B (the
    senkou-bar midpoint) are plotted kijun - 1 bars ahead, so the cloud at bar t was computed at
    t - kijun + 1 (causal)."""
    ts, ks = midpoint(high, low, tenkan), midpoint(high, low, kijun)
    span_a = shift((ts + ks) / 2.0, kijun - 1)
    span_b = shift(midpoint(high, low, senkou), kijun - 1)
    return ts, ks, span_a, span_b


def kvo(high: Array, low: Array, close: Array, volume: Array, fast: int, slow: int, signal: int) -> tuple[Array, Array]:
    """Klinger volume oscillator in its common simplified form (pandas-ta's documented one): volume
    signed by the direction of the typical price, EMA(fast) - EMA(slow), signal EMA of that."""
    tp = (high + low + close) / 3.0
    sign = np.sign(np.diff(tp, prepend=np.nan))
    sign[0] = -1.0
    sign[sign == 0] = -1.0  # pandas-ta's signed_series: no change counts as down
    sv = volume * sign
    line = ema(sv, fast) - ema(sv, slow)
    return line, ema(line, signal)


def swma4(x: Array) -> Array:
    """Symmetric weighted moving average over 4 bars, weights (1, 2, 2, 1) / 6."""
    return rolling(x, 4, lambda w, axis: (w @ np.array([1.0, 2.0, 2.0, 1.0])) / 6.0)


def rvgi(open_: Array, high: Array, low: Array, close: Array, n: int) -> tuple[Array, Array]:
    """Ehlers' relative vigor index: n-bar sums of SWMA(close - open) over SWMA(high - low); the
    signal line is the SWMA of the index."""
    line = rolling_sum(swma4(close - open_), n) / rolling_sum(swma4(high - low), n)
    return line, swma4(line)


def mass_index(high: Array, low: Array, fast: int, slow: int) -> Array:
    """Dorsey: sum over ``slow`` bars of EMA(range, fast) / EMA(EMA(range, fast), fast)."""
    single = ema(high - low, fast)
    return rolling_sum(single / ema(single, fast), slow)


def stoch_rsi(close: Array, rsi_length: int, length: int, k: int, d: int) -> tuple[Array, Array]:
    """Chande and Kroll's StochRSI in pandas-ta's form: 100 x the stochastic of RSI over ``length``
    bars, %K its k-bar SMA and %D the d-bar SMA of %K."""
    rsi = talib.RSI(close, rsi_length)
    lo, hi = lowest(rsi, length), highest(rsi, length)
    stoch = 100.0 * (rsi - lo) / (hi - lo)
    k_line = sma(stoch, k)
    return k_line, sma(k_line, d)


def atr_trailing_stop(high: Array, low: Array, close: Array, length: int, ma_length: int, k: float) -> Array:
    """pandas-ta's ``atrts`` as its docstring defines it: an ATR (TR smoothed by an EMA, its default
    ``mamode``) times k; above the EMA(ma_length) of the close the stop is close - k ATR and never
    falls, below it close + k ATR and never rises; undefined for the first max(length, ma_length)
    bars."""
    tr = talib.TRANGE(high, low, close)
    tr[0] = np.nan
    atr = ema(tr, length) * k
    trend = ema(close, ma_length)
    start = max(length, ma_length)
    out = np.full(close.shape, np.nan)
    for t in range(start, close.size):
        previous = out[t - 1]  # none on the first bar: the stop starts at its distance from the close
        if close[t] > trend[t]:
            out[t] = close[t] - atr[t] if np.isnan(previous) else max(close[t] - atr[t], previous)
        else:
            out[t] = close[t] + atr[t] if np.isnan(previous) else min(close[t] + atr[t], previous)
    return out


def frama(high: Array, low: Array, length: int, slow: int) -> Array:
    """Ehlers, "FRAMA - Fractal Adaptive Moving Average" (2005), on the median price: N1 and N2 are
    the high-low ranges of the older and newer half of the last ``length`` bars divided by the half's
    length, N3 the whole window's range / length, D = (log(N1 + N2) - log(N3)) / log 2 and
    alpha = exp(-4.6 (D - 1)), clamped to [2/(slow+1), 1] ("modified FRAMA"); seeded with the price."""
    price = (high + low) / 2.0
    older, newer = length // 2, length - length // 2
    out = np.full(price.shape, np.nan)
    out[length - 1] = price[length - 1]
    for t in range(length, price.size):
        w_high, w_low = high[t - length + 1: t + 1], low[t - length + 1: t + 1]
        n1 = (w_high[:older].max() - w_low[:older].min()) / older
        n2 = (w_high[older:].max() - w_low[older:].min()) / newer
        n3 = (w_high.max() - w_low.min()) / length
        alpha = math.exp(-4.6 * ((math.log(n1 + n2) - math.log(n3)) / math.log(2.0) - 1.0)) if n3 > 0 else 1.0
        alpha = min(max(alpha, 2.0 / (slow + 1.0)), 1.0)
        out[t] = alpha * price[t] + (1.0 - alpha) * out[t - 1]
    return out


def strictly_rising(x: Array, bars: int) -> Array:
    """x rose on each of the last ``bars`` bars (``bars`` consecutive higher values)."""
    return run_of(above(x, shift(x, 1)), bars)


def strictly_falling(x: Array, bars: int) -> Array:
    return run_of(below(x, shift(x, 1)), bars)


def linreg(x: Array, n: int) -> Array:
    """Least-squares line over the last n values, evaluated at the last bar (TA-Lib LINEARREG)."""
    return talib.LINEARREG(x, n)


def chandelier(high: Array, low: Array, close: Array, period: int, atr_period: int, mult: float) -> tuple[Array, Array]:
    """Le Beau's chandelier exits: (highest high - m ATR, lowest low + m ATR), Wilder's ATR."""
    atr = talib.ATR(high, low, close, atr_period)
    return highest(high, period) - mult * atr, lowest(low, period) + mult * atr
