"""Timeframes of the candle pipeline and their UTC-aligned windows.

Times are integer nanoseconds since the Unix epoch throughout the candle code: protobuf
``Timestamp`` carries nanoseconds, integer arithmetic aligns windows exactly, and the
epoch is a UTC midnight, so ``t - t % duration`` aligns every timeframe here (1 minute
to 1 day) to UTC.
"""

from __future__ import annotations

from tradestream.settings import TIMEFRAMES

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_SECOND = 1_000_000_000
MINUTE_NS = 60 * NS_PER_SECOND
BASE_TIMEFRAME = "1m"

TIMEFRAME_NS: dict[str, int] = {
    "1m": MINUTE_NS,
    "5m": 5 * MINUTE_NS,
    "15m": 15 * MINUTE_NS,
    "1h": 60 * MINUTE_NS,
    "4h": 240 * MINUTE_NS,
    "1d": 1440 * MINUTE_NS,
}
assert tuple(TIMEFRAME_NS) == TIMEFRAMES, "timeframes here and in tradestream.settings must agree"


def timeframe_ns(timeframe: str) -> int:
    """Duration of ``timeframe`` in nanoseconds."""
    try:
        return TIMEFRAME_NS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; choose from {list(TIMEFRAME_NS)}") from None


def window_start(time_ns: int, duration_ns: int) -> int:
    """Start of the UTC-aligned window of length ``duration_ns`` holding ``time_ns``."""
    return time_ns - time_ns % duration_ns


def minute_start(time_ns: int) -> int:
    return time_ns - time_ns % MINUTE_NS


def higher_timeframes(timeframes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The timeframes rolled up from 1-minute candles, in ascending duration."""
    for tf in timeframes:
        timeframe_ns(tf)
    return tuple(tf for tf in TIMEFRAME_NS if tf in timeframes and tf != BASE_TIMEFRAME)
