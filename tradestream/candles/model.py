"""The values the candle code works on: a trade tick and a candle record."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from tradestream.timeframes import NS_PER_SECOND


class TradeTick(NamedTuple):
    """One trade, reduced to what candles need. ``event_ns`` is the exchange time in ns."""

    exchange: str
    currency_pair: str
    trade_id: str
    event_ns: int
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class CandleRecord:
    """An OHLCV candle over ``[window_start_ns, window_end_ns)`` in UTC.

    ``volume_partials`` and ``pv_partials`` represent the exact sums of the trade sizes and
    of ``price * size`` as non-overlapping floats (see ``fold.exact_partials``): roll-ups
    add them up exactly, so a 1-day volume is the correctly rounded sum of every trade in
    the day, whatever order the trades and minutes arrived in.
    """

    currency_pair: str
    timeframe: str
    window_start_ns: int
    window_end_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    trade_count: int
    filled: bool
    revision: int = 0
    volume_partials: tuple[float, ...] = ()
    pv_partials: tuple[float, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        """Identity of the candle across revisions: (pair, timeframe, window start)."""
        return (self.currency_pair, self.timeframe, self.window_start_ns)

    @property
    def values(self) -> tuple:
        """Every published field except the revision: two candles with equal values are the same bar."""
        return (self.currency_pair, self.timeframe, self.window_start_ns, self.window_end_ns, self.open,
                self.high, self.low, self.close, self.volume, self.vwap, self.trade_count, self.filled)

    def same_values(self, other: CandleRecord) -> bool:
        return self.values == other.values

    def with_revision(self, revision: int) -> CandleRecord:
        return replace(self, revision=revision)

    def __str__(self) -> str:  # readable in assertion messages
        start = self.window_start_ns / NS_PER_SECOND
        kind = "filled" if self.filled else f"{self.trade_count} trades"
        return (f"{self.currency_pair} {self.timeframe} @{start:.0f} O={self.open!r} H={self.high!r} "
                f"L={self.low!r} C={self.close!r} V={self.volume!r} VWAP={self.vwap!r} ({kind}, rev {self.revision})")
