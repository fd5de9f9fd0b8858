"""A seeded synthetic market: the standard dataset strategies are tested and benchmarked on.

Prices follow a geometric Brownian motion whose drift and volatility switch between
regimes (bull, bear, ranging, volatile) like a hidden Markov chain, with an intraday
volatility cycle, occasional jumps at the open (gaps) and volume that rises with the
size of the move. The default is 30 days of 1-minute candles (43,200 bars). The same
seed always gives the same frame, so tests and benchmarks can pin exact results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradestream.timeframes import MINUTE_NS, MINUTES_PER_DAY, TIMEFRAMES, parse_timeframe, timeframe_of_duration


@dataclass(frozen=True)
class Regime:
    name: str
    drift: float  # per-bar drift in units of the base volatility
    vol: float  # multiple of the base volatility
    pull: float  # mean reversion towards the regime's anchor price (ranging markets)
    volume: float  # multiple of the base volume


REGIMES: tuple[Regime, ...] = (
    Regime("bull", drift=0.06, vol=1.0, pull=0.0, volume=1.0),
    Regime("bear", drift=-0.06, vol=1.1, pull=0.0, volume=1.1),
    Regime("range", drift=0.0, vol=0.7, pull=0.004, volume=0.7),
    Regime("volatile", drift=0.0, vol=2.2, pull=0.0, volume=2.0),
)


def synthetic_candles(days: float = 30, *, seed: int = 7, timeframe: str = "1m", freq: str | None = None,
                      start: str = "2024-01-01", start_price: float = 40_000.0,
                      base_volatility: float = 0.0008, base_volume: float = 2.5,
                      mean_regime_bars: float = 360.0) -> pd.DataFrame:
    """Candles with columns open, high, low, close, volume, vwap, trade_count and a UTC index.

    The bar length is ``timeframe`` ("1m", "5m", "15m", "1h", "4h", "1d") or, pandas style,
    ``freq`` ("1min", "5min", "1h", ...); give one of them. ``base_volatility`` is the
    per-bar standard deviation of log returns in a calm regime; ``mean_regime_bars`` is the
    average length of a regime.
    """
    if freq is not None:
        timeframe = _timeframe_of_freq(freq, timeframe)
    bar = parse_timeframe(timeframe)
    if days <= 0:
        raise ValueError(f"days={days} must be > 0")
    if start_price <= 0 or base_volatility <= 0 or base_volume <= 0 or mean_regime_bars < 1:
        raise ValueError("start_price, base_volatility and base_volume must be > 0 and mean_regime_bars >= 1")
    minutes = bar.minutes
    n = round(days * MINUTES_PER_DAY / minutes)
    if n < 2:
        raise ValueError(f"{days} day(s) of {timeframe} candles is fewer than 2 bars; ask for more days")

    rng = np.random.default_rng(seed)
    sigma = base_volatility * np.sqrt(minutes)
    regime = _regime_path(n, rng, mean_regime_bars / np.sqrt(minutes))
    drift = np.array([r.drift for r in REGIMES])[regime]
    vol = np.array([r.vol for r in REGIMES])[regime]
    pull = np.array([r.pull for r in REGIMES])[regime]
    volume_level = np.array([r.volume for r in REGIMES])[regime]

    minute_of_day = (np.arange(n) * minutes) % MINUTES_PER_DAY
    intraday = 1.0 + 0.35 * np.sin(2 * np.pi * (minute_of_day / MINUTES_PER_DAY - 0.25))
    bar_sigma = sigma * vol * intraday

    # Fat tails: a Student-t with 4 degrees of freedom, scaled to unit variance.
    shocks = rng.standard_t(4, size=n) / np.sqrt(2.0)
    jumps = rng.random(n) < 0.0015
    gap = rng.normal(0.0, 0.05, n) * bar_sigma
    gap[jumps] += rng.choice([-1.0, 1.0], jumps.sum()) * rng.uniform(3.0, 8.0, jumps.sum()) * bar_sigma[jumps]

    log_close = np.empty(n)
    log_open = np.empty(n)
    level = np.log(start_price)
    anchor = level
    for i in range(n):
        if i == 0 or regime[i] != regime[i - 1]:
            anchor = level
        log_open[i] = level + gap[i]
        move = drift[i] * bar_sigma[i] + shocks[i] * bar_sigma[i] - pull[i] * (log_open[i] - anchor)
        level = log_open[i] + move
        log_close[i] = level

    open_ = np.exp(log_open)
    close = np.exp(log_close)
    wick_up = np.abs(rng.normal(0.0, 0.6, n)) * bar_sigma
    wick_down = np.abs(rng.normal(0.0, 0.6, n)) * bar_sigma
    high = np.maximum(open_, close) * np.exp(wick_up)
    low = np.minimum(open_, close) * np.exp(-wick_down)

    move_size = np.abs(log_close - log_open) / bar_sigma
    volume = (base_volume * minutes * volume_level * intraday
              * rng.lognormal(0.0, 0.45, n) * (1.0 + 0.8 * move_size))
    trade_count = rng.poisson(volume * 40.0) + 1
    weights = rng.dirichlet(np.ones(4), n)
    vwap = weights[:, 0] * open_ + weights[:, 1] * high + weights[:, 2] * low + weights[:, 3] * close

    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq=bar.pandas_freq, name="window_start")
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume,
                         "vwap": vwap, "trade_count": trade_count.astype("float64")}, index=index)


def _timeframe_of_freq(freq: str, timeframe: str) -> str:
    try:
        minutes = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)) / pd.Timedelta(minutes=1)
    except (ValueError, TypeError):
        raise ValueError(f"freq={freq!r} is not a pandas frequency such as '1min', '5min' or '1h'") from None
    bar = timeframe_of_duration(round(minutes * MINUTE_NS))
    if bar is None:
        raise ValueError(f"freq={freq!r} ({minutes:g} minutes) is not a platform timeframe; "
                         f"use one of {[parse_timeframe(tf).pandas_freq for tf in TIMEFRAMES]}")
    if timeframe != "1m" and bar.name != timeframe:
        raise ValueError(f"freq={freq!r} and timeframe={timeframe!r} disagree; give only one of them")
    return bar.name


def _regime_path(n: int, rng: np.random.Generator, mean_bars: float) -> np.ndarray:
    """Regime index per bar: geometric durations, never the same regime twice in a row."""
    path = np.empty(n, dtype=np.int64)
    i, current = 0, int(rng.integers(len(REGIMES)))
    while i < n:
        length = int(rng.geometric(1.0 / max(mean_bars, 1.0)))
        path[i:i + length] = current
        i += length
        current = (current + int(rng.integers(1, len(REGIMES)))) % len(REGIMES)
    return path
