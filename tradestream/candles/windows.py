"""UTC-aligned candle windows: where a bar starts, and which timeframes roll up from 1 minute.

The timeframes themselves (names, durations) are the table in ``tradestream.timeframes``;
the epoch is a UTC midnight, so ``t - t % duration`` aligns every one of them to UTC.
"""

from __future__ import annotations

from tradestream.timeframes import BASE_TIMEFRAME, MINUTE_NS, TIMEFRAMES, check_timeframes


def window_start(time_ns: int, duration_ns: int) -> int:
    """Start of the UTC-aligned window of length ``duration_ns`` holding ``time_ns``."""
    return time_ns - time_ns % duration_ns


def minute_start(time_ns: int) -> int:
    return time_ns - time_ns % MINUTE_NS


def higher_timeframes(timeframes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The timeframes rolled up from 1-minute candles, in ascending duration."""
    check_timeframes(timeframes)
    return tuple(tf for tf in TIMEFRAMES if tf in timeframes and tf != BASE_TIMEFRAME)
