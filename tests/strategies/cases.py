"""Constructed candles for the independent strategy checks."""

from __future__ import annotations

import numpy as np
import pandas as pd


def candles_from_close(close: np.ndarray, *, spread: float = 0.002, volume: np.ndarray | None = None,
                       open_: np.ndarray | None = None, trade_count: np.ndarray | None = None) -> pd.DataFrame:
    """Candles whose close path is given: open = the previous close (unless given), high and low
    ``spread`` (a fraction) beyond the body, 1-minute bars from 2024-01-01 UTC."""
    close = np.asarray(close, dtype=float)
    if open_ is None:
        open_ = np.r_[close[0], close[:-1]]
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    n = close.size
    if volume is None:
        volume = 1000.0 + 400.0 * np.sin(np.arange(n) * 2 * np.pi / 23.0) ** 2
    frame = pd.DataFrame({"open": open_, "high": body_high * (1 + spread), "low": body_low * (1 - spread),
                          "close": close, "volume": np.asarray(volume, dtype=float)},
                         index=pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC"))
    if trade_count is not None:
        frame["trade_count"] = np.asarray(trade_count, dtype=float)
    return frame


def wave(bars: int = 400, period: float = 120.0, amplitude: float = 0.04, ripple: float = 0.004,
         phase: float = 0.0) -> np.ndarray:
    """A close that swings +-``amplitude`` around 100 every ``period`` bars, with a small faster
    ripple (period 13) so no indicator sees a perfectly smooth or flat series."""
    t = np.arange(bars)
    return 100.0 * (1 + amplitude * np.sin(2 * np.pi * t / period + phase) + ripple * np.sin(2 * np.pi * t / 13.0))


def path(*legs: tuple[int, float], start: float = 100.0) -> np.ndarray:
    """A piecewise-linear close: each leg is (bars, close at its end), starting from ``start``.
    ``path((150, 100), (50, 110))`` stays at 100 for 150 bars, then climbs 0.2 a bar to 110."""
    out, level = [], start
    for bars, end in legs:
        out.append(level + (end - level) * np.arange(1, bars + 1) / bars)
        level = end
    return np.concatenate(out)


def ripple(close: np.ndarray, size: float = 0.002, period: float = 13.0) -> np.ndarray:
    """``close`` with a small periodic ripple (a fraction of the price), so indicators never see a flat line."""
    return close * (1 + size * np.sin(2 * np.pi * np.arange(close.size) / period))
