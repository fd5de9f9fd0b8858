"""Builders for backtest tests: candle frames and two small strategies with known answers."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from tradestream.params import Constraint, Param, ParamSpace, ParamValue


def make_candles(close, *, timeframe: str = "1m", start: str = "2024-01-01", open_=None, high=None,
                 low=None) -> pd.DataFrame:
    """A candle frame from closes; open/high/low default to the close (a flat bar)."""
    close = np.asarray(close, dtype=float)
    index = pd.date_range(start, periods=len(close), freq=pd.Timedelta(timeframe.replace("m", "min")), tz="UTC")
    open_ = close if open_ is None else np.asarray(open_, dtype=float)
    high = np.maximum(open_, close) if high is None else np.asarray(high, dtype=float)
    low = np.minimum(open_, close) if low is None else np.asarray(low, dtype=float)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index)


def bars(n: int, *positions: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(positions)] = True
    return out


def random_walk(n: int, seed: int, volatility: float = 0.002) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, volatility, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, volatility / 2, n)) * close
    return make_candles(close, open_=open_, high=np.maximum(open_, close) + spread,
                        low=np.minimum(open_, close) - spread)


class WindowStrategy:
    """Buys on bar ``entry_bar`` and sells on bar ``exit_bar``: the best pair is the price's low then high."""

    name = "TEST_WINDOW"
    space = ParamSpace((Param("entry_bar", "int", 0, 99, 10), Param("exit_bar", "int", 1, 119, 50)),
                       (Constraint("entry_bar", "<", "exit_bar"),), owner="TEST_WINDOW")

    def signals(self, candles: pd.DataFrame, params: Mapping[str, ParamValue]) -> tuple[pd.Series, pd.Series]:
        values = self.space.validate(params)
        position = np.arange(len(candles))
        return (pd.Series(position == values["entry_bar"], index=candles.index),
                pd.Series(position == values["exit_bar"], index=candles.index))


class CycleStrategy:
    """Buys at one phase and sells at another of a fixed 60-minute cycle (phases from the clock)."""

    name = "TEST_CYCLE"
    period = 60
    space = ParamSpace((Param("buy_phase", "int", 0, 59, 0), Param("sell_phase", "int", 0, 59, 30)),
                       owner="TEST_CYCLE")

    def signals(self, candles: pd.DataFrame, params: Mapping[str, ParamValue]) -> tuple[pd.Series, pd.Series]:
        values = self.space.validate(params)
        phase = (candles.index.as_unit("ns").asi8 // 60_000_000_000) % self.period
        return (pd.Series(phase == values["buy_phase"], index=candles.index),
                pd.Series(phase == values["sell_phase"], index=candles.index))


def window_prices() -> pd.DataFrame:
    """120 bars whose lowest close is bar 37 and highest bar 83, with ripples elsewhere."""
    t = np.arange(120, dtype=float)
    close = (100 - 20 * np.exp(-((t - 37) / 9) ** 2) + 30 * np.exp(-((t - 83) / 9) ** 2)
             + 1.5 * np.sin(t / 3.0))
    close[37] = close.min() - 0.5  # make the extremes exact, whatever the ripples did around them
    close[83] = close.max() + 0.5
    assert int(np.argmin(close)) == 37 and int(np.argmax(close)) == 83
    return make_candles(close)


def cycle_prices(days: float, seed: int = 3) -> pd.DataFrame:
    """A 60-minute sine cycle (trough at phase 45, crest at phase 15) plus a little noise."""
    n = int(days * 1440)
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    close = 100 * (1 + 0.01 * np.sin(2 * np.pi * t / 60) + rng.normal(0, 0.0005, n))
    return make_candles(close)
