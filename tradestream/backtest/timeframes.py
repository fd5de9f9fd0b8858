"""Candle timeframes as durations, and the annualization that follows from them.

Crypto markets trade every day, so a year is 365 days of bars: 525,600 one-minute bars,
8,760 hourly bars, 365 daily bars.
"""

from __future__ import annotations

import re

import pandas as pd

from tradestream.backtest.errors import BacktestInputError

DAYS_PER_YEAR = 365
_TIMEFRAME = re.compile(r"^(\d+)([mhdw])$")
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60, "w": 7 * 24 * 60}


def timeframe_minutes(timeframe: str) -> int:
    """Minutes in one bar of ``timeframe`` ("1m", "15m", "4h", "1d", "1w")."""
    match = _TIMEFRAME.match(str(timeframe).strip())
    if not match or int(match.group(1)) == 0:
        raise BacktestInputError(
            f"timeframe {timeframe!r} is not understood; use a count and a unit such as 1m, 5m, 1h, 4h or 1d")
    return int(match.group(1)) * _UNIT_MINUTES[match.group(2)]


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    return pd.Timedelta(minutes=timeframe_minutes(timeframe))


def periods_per_year(timeframe: str) -> float:
    """Bars in a 365-day year: the annualization factor of returns on this timeframe."""
    return DAYS_PER_YEAR * 24 * 60 / timeframe_minutes(timeframe)


def infer_timeframe(index: pd.DatetimeIndex) -> str:
    """The timeframe of a candle index: its most common spacing, written as 1m/1h/1d style."""
    if len(index) < 2:
        raise BacktestInputError(
            f"cannot infer the timeframe from {len(index)} candle(s); pass the timeframe explicitly")
    spacing = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
    minutes = spacing / pd.Timedelta(minutes=1)
    if minutes <= 0 or minutes != int(minutes):
        raise BacktestInputError(
            f"candle spacing {spacing} is not a whole number of minutes; pass the timeframe explicitly")
    minutes = int(minutes)
    for unit, size in (("w", _UNIT_MINUTES["w"]), ("d", _UNIT_MINUTES["d"]), ("h", 60)):
        if minutes % size == 0:
            return f"{minutes // size}{unit}"
    return f"{minutes}m"
