"""Indicators pandas-ta does not have, written by hand (numba kernels, plain arrays).

pandas-ta 0.4.71b0 has no fractal adaptive moving average, no Renko or range bars, no
chart-pattern detector and only a whole-frame volume profile (``ta.vp`` bins the entire
series, which would look into the future of every bar). These kernels fill the gaps.

All but FRAMA are *windowed by definition*: the value at bar ``t`` is computed from the
candles ``[t - window + 1, t]`` alone, re-running the construction (bricks, range bars,
pivots, profile) over that window. The vectorized evaluation over a month of candles
and the live evaluator looking at its last ``window`` candles therefore run exactly the
same arithmetic on exactly the same numbers: equal bit for bit, not just approximately.
FRAMA is a recursive filter like an EMA; the library gives it a convergence allowance
like every other recursive indicator (see ``indicators.convergence_bars``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numba import njit

# --------------------------------------------------------------------------- FRAMA


@njit(cache=True)
def _frama_kernel(high: np.ndarray, low: np.ndarray, price: np.ndarray, length: int,
                  alpha_min: float) -> np.ndarray:
    n = price.size
    out = np.full(n, np.nan)
    if n < length:
        return out
    older = length // 2
    newer = length - older
    out[length - 1] = price[length - 1]
    for t in range(length, n):
        start = t - length + 1
        h1 = high[start]
        l1 = low[start]
        for i in range(start + 1, start + older):
            h1 = max(h1, high[i])
            l1 = min(l1, low[i])
        h2 = high[start + older]
        l2 = low[start + older]
        for i in range(start + older + 1, t + 1):
            h2 = max(h2, high[i])
            l2 = min(l2, low[i])
        n1 = (h1 - l1) / older
        n2 = (h2 - l2) / newer
        n3 = (max(h1, h2) - min(l1, l2)) / length
        if n1 + n2 > 0.0 and n3 > 0.0:
            dimension = (math.log(n1 + n2) - math.log(n3)) / math.log(2.0)
            alpha = math.exp(-4.6 * (dimension - 1.0))
        else:  # a perfectly flat window: follow the price
            alpha = 1.0
        alpha = min(max(alpha, alpha_min), 1.0)
        out[t] = alpha * price[t] + (1.0 - alpha) * out[t - 1]
    return out


def frama(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 16, slow: int = 200) -> pd.Series:
    """Ehlers' Fractal Adaptive Moving Average of the median price (high + low) / 2.

    The smoothing factor follows the fractal dimension D of the last ``length`` bars,
    ``alpha = exp(-4.6 (D - 1))``, bounded below by an EMA of ``slow`` bars (Ehlers'
    "modified FRAMA"), so a choppy market slows the average down and a trending one
    speeds it up. Odd lengths split into halves of ``length // 2`` and the rest.
    """
    if length < 2:
        raise ValueError(f"frama length={length} must be >= 2")
    price = ((high + low) / 2.0).to_numpy(dtype="float64")
    values = _frama_kernel(high.to_numpy(dtype="float64"), low.to_numpy(dtype="float64"), price,
                           int(length), 2.0 / (slow + 1.0))
    return pd.Series(values, index=close.index, name=f"FRAMA_{length}_{slow}")


# --------------------------------------------------------------------------- Renko


@njit(cache=True)
def _renko_kernel(close: np.ndarray, brick: float, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bar: direction of the last brick, bricks formed on this bar (signed), run length."""
    n = close.size
    direction = np.full(n, np.nan)
    formed = np.full(n, np.nan)
    run = np.full(n, np.nan)
    grid = np.log(close) / math.log(1.0 + brick)
    for t in range(window - 1, n):
        start = t - window + 1
        bottom = math.floor(grid[start])
        top = bottom + 1.0
        d = 0
        r = 0
        new = 0
        for i in range(start + 1, t + 1):
            x = grid[i]
            new = 0
            if x >= top + 1.0:  # up bricks: continuation, or a reversal from a down run
                k = math.floor(x - top)
                top += k
                bottom = top - 1.0
                r = r + k if d == 1 else k
                d = 1
                new = k
            elif x <= bottom - 1.0:  # down bricks
                k = math.floor(bottom - x)
                bottom -= k
                top = bottom + 1.0
                r = r + k if d == -1 else k
                d = -1
                new = -k
        direction[t] = d
        formed[t] = new
        run[t] = r
    return direction, formed, run


def renko(close: pd.Series, brick_pct: float = 0.25, window: int = 240) -> pd.DataFrame:
    """Renko bricks of ``brick_pct`` percent built over the trailing ``window`` closes.

    Bricks sit on a fixed logarithmic grid (levels ``(1 + brick_pct/100)**k``), so every
    window places them at the same prices. A new brick needs a close one full brick
    beyond the last brick's top (up) or bottom (down); a reversal therefore needs a move
    of two bricks, as on a classic Renko chart. Columns: ``RENKO_dir`` (+1/-1 direction
    of the last brick, 0 before the first), ``RENKO_new`` (bricks formed on this bar,
    negative for down), ``RENKO_run`` (consecutive bricks in the current direction).
    """
    if brick_pct <= 0:
        raise ValueError(f"renko brick_pct={brick_pct} must be > 0")
    if window < 2:
        raise ValueError(f"renko window={window} must be >= 2")
    d, f, r = _renko_kernel(close.to_numpy(dtype="float64"), brick_pct / 100.0, int(window))
    return pd.DataFrame({"RENKO_dir": d, "RENKO_new": f, "RENKO_run": r}, index=close.index)


# --------------------------------------------------------------------------- range bars


@njit(cache=True)
def _range_bar_kernel(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
                      range_frac: float, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Per bar: direction of a range bar completed on this candle (0 if none), run length."""
    n = close.size
    closed = np.full(n, np.nan)
    run = np.full(n, np.nan)
    for t in range(window - 1, n):
        start = t - window + 1
        bar_open = open_[start]
        hi = high[start]
        lo = low[start]
        last_dir = 0
        r = 0
        done = 0
        for i in range(start, t + 1):
            if i > start:
                hi = max(hi, high[i])
                lo = min(lo, low[i])
            done = 0
            if hi - lo >= range_frac * bar_open:
                done = 1 if close[i] >= bar_open else -1
                r = r + 1 if done == last_dir else 1
                last_dir = done
                # the next range bar opens at this close and starts from this candle's close
                bar_open = close[i]
                hi = close[i]
                lo = close[i]
        closed[t] = done
        run[t] = r
    return closed, run


def range_bars(open_: pd.Series, high: pd.Series, low: pd.Series, close: pd.Series,
               range_pct: float = 0.3, window: int = 240) -> pd.DataFrame:
    """Range bars of ``range_pct`` percent built over the trailing ``window`` candles.

    A range bar collects candles until its high-low range reaches ``range_pct`` percent of
    its open; it closes at that candle's close (up if above its open, down otherwise)
    and the next range bar opens there. Time plays no part, only price movement.
    Columns: ``RANGE_closed`` (+1/-1 when a range bar completed on this candle, else 0)
    and ``RANGE_run`` (consecutive completed range bars in the last bar's direction).
    """
    if range_pct <= 0:
        raise ValueError(f"range_bars range_pct={range_pct} must be > 0")
    if window < 2:
        raise ValueError(f"range_bars window={window} must be >= 2")
    c, r = _range_bar_kernel(open_.to_numpy(dtype="float64"), high.to_numpy(dtype="float64"),
                             low.to_numpy(dtype="float64"), close.to_numpy(dtype="float64"),
                             range_pct / 100.0, int(window))
    return pd.DataFrame({"RANGE_closed": c, "RANGE_run": r}, index=close.index)


# --------------------------------------------------------------------------- double top / bottom


@njit(cache=True)
def _last_two_pivots(values: np.ndarray, start: int, last: int, pivot: int, lows: bool) -> tuple[int, int]:
    """Indices of the last two confirmed pivots in ``[start, last]`` (-1 when missing)."""
    second = -1
    first = -1
    i = last
    while i >= start + pivot:
        is_pivot = True
        for j in range(i - pivot, i + pivot + 1):
            if j == i:
                continue
            if (lows and values[j] < values[i]) or (not lows and values[j] > values[i]):
                is_pivot = False
                break
        if is_pivot:
            if second == -1:
                second = i
            else:
                first = i
                break
            i -= pivot  # pivots closer than this would share a neighbourhood
        i -= 1
    return first, second


@njit(cache=True)
def _double_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int, pivot: int,
                   tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = close.size
    bottom_break = np.full(n, np.nan)
    top_break = np.full(n, np.nan)
    support_break = np.full(n, np.nan)
    for t in range(window - 1, n):
        start = t - window + 1
        last = t - pivot  # a pivot needs `pivot` later bars to be confirmed
        b = 0.0
        s = 0.0
        p1, p2 = _last_two_pivots(low, start, last, pivot, True)
        if p1 >= 0:
            support = min(low[p1], low[p2])
            if abs(low[p1] - low[p2]) <= tolerance * support:
                neckline = high[p1]
                for i in range(p1, p2 + 1):
                    neckline = max(neckline, high[i])
                intact = True
                for i in range(p2 + 1, t):
                    if low[i] < support:
                        intact = False
                        break
                if intact and close[t] > neckline and close[t - 1] <= neckline:
                    b = 1.0
            if close[t] < support and close[t - 1] >= support:
                s = 1.0
        tp = 0.0
        q1, q2 = _last_two_pivots(high, start, last, pivot, False)
        if q1 >= 0:
            resistance = max(high[q1], high[q2])
            if abs(high[q1] - high[q2]) <= tolerance * resistance:
                neckline = low[q1]
                for i in range(q1, q2 + 1):
                    neckline = min(neckline, low[i])
                intact = True
                for i in range(q2 + 1, t):
                    if high[i] > resistance:
                        intact = False
                        break
                if intact and close[t] < neckline and close[t - 1] >= neckline:
                    tp = 1.0
        bottom_break[t] = b
        top_break[t] = tp
        support_break[t] = s
    return bottom_break, top_break, support_break


def double_top_bottom(high: pd.Series, low: pd.Series, close: pd.Series, window: int = 120,
                      pivot: int = 3, tolerance_pct: float = 0.15) -> pd.DataFrame:
    """Double bottoms and double tops among the pivots of the trailing ``window`` candles.

    A pivot low is a candle whose low is the lowest of the ``pivot`` candles on either
    side (so it is confirmed ``pivot`` candles later; no look-ahead). The last two pivot
    lows form a double bottom when they lie within ``tolerance_pct`` percent of each
    other and no low since the second one broke below them; the pattern completes when
    the close crosses above the neckline, the highest high between the two lows.
    Double tops mirror this. Columns (1.0 on the completing candle, else 0.0):
    ``DBL_bottom`` (bullish breakout), ``DBL_top`` (bearish breakdown) and ``DBL_support``
    (the close fell through the lower of the last two pivot lows: the base failed).
    """
    if window < 2 * pivot + 3:
        raise ValueError(f"double_top_bottom window={window} is too short for pivot={pivot}; "
                         f"use at least {2 * pivot + 3}")
    if pivot < 1 or tolerance_pct <= 0:
        raise ValueError(f"double_top_bottom needs pivot >= 1 and tolerance_pct > 0 "
                         f"(got pivot={pivot}, tolerance_pct={tolerance_pct})")
    b, t, s = _double_kernel(high.to_numpy(dtype="float64"), low.to_numpy(dtype="float64"),
                             close.to_numpy(dtype="float64"), int(window), int(pivot), tolerance_pct / 100.0)
    return pd.DataFrame({"DBL_bottom": b, "DBL_top": t, "DBL_support": s}, index=close.index)


# --------------------------------------------------------------------------- volume profile


@njit(cache=True)
def _profile_kernel(high: np.ndarray, low: np.ndarray, volume: np.ndarray, window: int, bins: int,
                    value_area: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = high.size
    poc = np.full(n, np.nan)
    val = np.full(n, np.nan)
    vah = np.full(n, np.nan)
    hist = np.zeros(bins)
    for t in range(window - 1, n):
        start = t - window + 1
        top = high[start]
        bottom = low[start]
        for i in range(start + 1, t + 1):
            top = max(top, high[i])
            bottom = min(bottom, low[i])
        width = (top - bottom) / bins
        if width <= 0.0:
            poc[t] = top
            val[t] = top
            vah[t] = top
            continue
        hist[:] = 0.0
        total = 0.0
        for i in range(start, t + 1):
            # spread the candle's volume evenly over the price range it traded through
            lo_bin = min(int((low[i] - bottom) / width), bins - 1)
            hi_bin = min(int((high[i] - bottom) / width), bins - 1)
            share = volume[i] / (hi_bin - lo_bin + 1)
            for b in range(lo_bin, hi_bin + 1):
                hist[b] += share
            total += volume[i]
        peak = 0
        for b in range(1, bins):
            if hist[b] > hist[peak]:
                peak = b
        lo_b = peak
        hi_b = peak
        covered = hist[peak]
        while covered < value_area * total and (lo_b > 0 or hi_b < bins - 1):
            below = hist[lo_b - 1] if lo_b > 0 else -1.0
            above = hist[hi_b + 1] if hi_b < bins - 1 else -1.0
            if above >= below:
                hi_b += 1
                covered += above
            else:
                lo_b -= 1
                covered += below
        poc[t] = bottom + (peak + 0.5) * width
        val[t] = bottom + lo_b * width
        vah[t] = bottom + (hi_b + 1) * width
    return poc, val, vah


def volume_profile(high: pd.Series, low: pd.Series, volume: pd.Series, window: int = 240, bins: int = 24,
                   value_area: float = 0.7) -> pd.DataFrame:
    """Rolling volume profile of the trailing ``window`` candles.

    The window's price range is cut into ``bins`` equal bins and each candle's volume is
    spread evenly over the bins between its low and high. Columns: ``VP_poc`` (point of
    control: middle of the fullest bin), ``VP_val`` and ``VP_vah`` (value area low/high:
    the bins around the POC holding ``value_area`` of the volume, grown towards the
    fuller neighbour first, as in Market Profile practice).
    """
    if window < 2 or bins < 2 or not 0 < value_area <= 1:
        raise ValueError(f"volume_profile needs window >= 2, bins >= 2 and 0 < value_area <= 1 "
                         f"(got window={window}, bins={bins}, value_area={value_area})")
    p, lo, hi = _profile_kernel(high.to_numpy(dtype="float64"), low.to_numpy(dtype="float64"),
                                volume.to_numpy(dtype="float64"), int(window), int(bins), float(value_area))
    return pd.DataFrame({"VP_poc": p, "VP_val": lo, "VP_vah": hi}, index=high.index)
