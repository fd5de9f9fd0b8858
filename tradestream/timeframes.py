"""The candle timeframes of the platform, once: names, durations, annualization, parsing.

Every stage reads this table: the settings' choices, the candle job's roll-ups, the
signal job, the warehouse, the strategies, the synthetic market and the backtester.
It imports nothing from the project, so ``tradestream.settings`` can use it.

Times are integer nanoseconds since the Unix epoch throughout the platform: protobuf
``Timestamp`` carries nanoseconds, and integer arithmetic aligns windows exactly.

Why nothing longer than a day: windows are aligned by ``t - t % duration`` from the
epoch, which is a UTC midnight, so every duration that divides a day (1 minute to
1 day) starts its bars at the same UTC instants on every stage. A week has no such
alignment (the epoch is a Thursday; exchanges and charts start weeks on Monday) and a
month has no fixed duration at all: both need calendar rules that the candle job, the
warehouse and the signal job do not have. A timeframe only the backtester understood
would be a name the rest of the platform cannot produce, so ``1w`` and the like are
refused everywhere, with a message, until the candle job builds calendar bars.

Crypto markets trade every day, so a year is 365 days of bars: 525,600 one-minute bars,
8,760 hourly bars, 365 daily bars. That is the annualization of returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_SECOND = 1_000_000_000
MINUTE_NS = 60 * NS_PER_SECOND
MINUTES_PER_DAY = 24 * 60
DAYS_PER_YEAR = 365


@dataclass(frozen=True)
class Timeframe:
    """One bar length: its name (``"15m"``) and what follows from its minutes."""

    name: str
    minutes: int

    @property
    def ns(self) -> int:
        return self.minutes * MINUTE_NS

    @property
    def timedelta(self) -> timedelta:
        return timedelta(minutes=self.minutes)

    @property
    def pandas_freq(self) -> str:
        """The pandas frequency of consecutive bars (``"15min"``)."""
        return f"{self.minutes}min"

    @property
    def periods_per_year(self) -> float:
        """Bars in a 365-day year: the annualization factor of returns on this timeframe."""
        return DAYS_PER_YEAR * MINUTES_PER_DAY / self.minutes

    def __str__(self) -> str:
        return self.name


_TABLE: tuple[Timeframe, ...] = (
    Timeframe("1m", 1), Timeframe("5m", 5), Timeframe("15m", 15),
    Timeframe("1h", 60), Timeframe("4h", 240), Timeframe("1d", MINUTES_PER_DAY),
)
_BY_NAME: dict[str, Timeframe] = {tf.name: tf for tf in _TABLE}
_BY_NS: dict[int, Timeframe] = {tf.ns: tf for tf in _TABLE}

#: Names of every timeframe, in ascending duration.
TIMEFRAMES: tuple[str, ...] = tuple(_BY_NAME)
#: Duration of each timeframe in nanoseconds (a plain dict for the hot paths of the jobs).
TIMEFRAME_NS: dict[str, int] = {tf.name: tf.ns for tf in _TABLE}
#: The timeframe built from trades; every other one is rolled up from it.
BASE_TIMEFRAME = "1m"

_LONGER_THAN_A_DAY = re.compile(r"^\s*\d+\s*(w|wk|week|weeks|mo|month|months|M|y|year|years)\s*$")
_DAYS = re.compile(r"^\s*(\d+)\s*d\s*$")


class UnknownTimeframeError(ValueError):
    """A timeframe name that is not in the table; the message names it and the valid ones."""


def _refusal_hint(values: Iterable[object]) -> str:
    for value in values:
        text = str(value)
        days = _DAYS.match(text)
        if _LONGER_THAN_A_DAY.match(text) or (days and int(days.group(1)) > 1):
            return ("; bars longer than a day are not built: windows align to UTC midnights and weeks or "
                    "months would need calendar rules no stage has (see tradestream.timeframes)")
    return ""


def parse_timeframe(value: str) -> Timeframe:
    """The timeframe named ``value`` ("1m" ... "1d"), or UnknownTimeframeError naming the valid ones."""
    try:
        return _BY_NAME[value]
    except (KeyError, TypeError):
        raise UnknownTimeframeError(f"timeframe {value!r} is unknown; choose from {list(TIMEFRAMES)}"
                                    f"{_refusal_hint([value])}") from None


def check_timeframes(values: Iterable[str]) -> list[str]:
    """``values`` unchanged when every one is a timeframe; otherwise UnknownTimeframeError naming the bad ones."""
    values = list(values)
    unknown = [v for v in values if v not in _BY_NAME]
    if unknown:
        raise UnknownTimeframeError(f"unknown timeframe(s) {unknown}; choose from {list(TIMEFRAMES)}"
                                    f"{_refusal_hint(unknown)}")
    return values


def timeframe_of_duration(duration_ns: int) -> Timeframe | None:
    """The timeframe whose bars last exactly ``duration_ns``, or None."""
    return _BY_NS.get(duration_ns)
