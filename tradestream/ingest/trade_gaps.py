"""Gaps in a live feed's trade ids: which trades of a pair the stream has not delivered.

Where a venue numbers each pair's trades 1, 2, 3, ... (Coinbase), a trade id that jumps
past the newest one seen opens a gap of the ids in between. Trades that arrive later
inside a gap close it again: a snapshot sent after a reconnect often comes newest first,
so the first trade of it opens a gap the rest of it fills. What is still open after a
short delay is missing for real and is fetched over REST (``streaming/ingestion/repair.py``).
Ids that are not plain integers are ignored (other venues, the simulator).

Pure: times are passed in, nothing is fetched here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradestream.history.ids import IdSpan


@dataclass
class OpenGap:
    pair: str
    span: IdSpan
    opened_ns: int


@dataclass
class TradeIdGaps:
    """Per pair: the newest id seen and the spans of ids below it not seen yet."""

    newest: dict[str, int] = field(default_factory=dict)
    open: dict[str, list[OpenGap]] = field(default_factory=dict)
    gaps_seen: int = 0

    def observe(self, pair: str, trade_id: str, now_ns: int) -> IdSpan | None:
        """Record a delivered trade; returns the gap it opens, if any."""
        if not (trade_id.isascii() and trade_id.isdigit()):
            return None
        number = int(trade_id)
        newest = self.newest.get(pair)
        if newest is None or number == newest + 1:
            self.newest[pair] = number if newest is None else max(newest, number)
            return None
        if number > newest:
            self.newest[pair] = number
            return self.open_gap(pair, IdSpan(newest + 1, number - 1), now_ns)
        self.close(pair, number)
        return None

    def open_gap(self, pair: str, span: IdSpan, now_ns: int) -> IdSpan | None:
        """Ids known to exist that were not delivered (a jump, or what a REST probe found)."""
        if not len(span):
            return None
        self.open.setdefault(pair, []).append(OpenGap(pair, span, now_ns))
        self.gaps_seen += 1
        return span

    def close(self, pair: str, number: int) -> None:
        """``number`` arrived after all: take it out of the open gap that holds it."""
        gaps = self.open.get(pair)
        if not gaps:
            return
        for k, gap in enumerate(gaps):
            if gap.span.first <= number <= gap.span.last:
                parts = [IdSpan(gap.span.first, number - 1), IdSpan(number + 1, gap.span.last)]
                gaps[k:k + 1] = [OpenGap(pair, part, gap.opened_ns) for part in parts if len(part)]
                return

    def due(self, now_ns: int, delay_ns: int) -> list[OpenGap]:
        """Take the gaps open for at least ``delay_ns``: the stream will not fill them any more."""
        out = []
        for pair, gaps in self.open.items():
            keep = []
            for gap in gaps:
                (out if now_ns - gap.opened_ns >= delay_ns else keep).append(gap)
            self.open[pair] = keep
        return out

    def missing(self, pair: str) -> int:
        return sum(len(g.span) for g in self.open.get(pair, []))
