"""Drives MinuteBook and RollupBook the way the Beam transforms do, without Beam.

Trades arrive in a given order; the watermark follows the largest event time seen minus a
lag; trades whose minute ended more than the allowed lateness before the watermark are
late. Used by the unit tests to check the state machines against the SQL reference on
generated data, with out-of-order, late and duplicate trades.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tradestream.candles.book import Disposition, MinuteBook, RollupBook
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.timeframes import MINUTE_NS, higher_timeframes, minute_start


@dataclass
class DriverResult:
    emitted: list[CandleRecord] = field(default_factory=list)   # every emission, in order
    late: list[TradeTick] = field(default_factory=list)

    def final(self) -> dict[tuple, CandleRecord]:
        out: dict[tuple, CandleRecord] = {}
        for candle in self.emitted:
            out[candle.key] = candle
        return out


def drive(arrivals: list[TradeTick], *, lateness_s: int, fill_cap_s: int, lag_ns: int,
          timeframes: tuple[str, ...], final_watermark_ns: int | None = None) -> DriverResult:
    result = DriverResult()
    lateness = lateness_s * 1_000_000_000
    minute_books: dict[str, MinuteBook] = {}
    rollups: dict[str, RollupBook] = {}
    bags: dict[str, dict[int, list[TradeTick]]] = defaultdict(lambda: defaultdict(list))
    higher = higher_timeframes(timeframes)
    watermark: int | None = None

    def to_rollup(pair: str, candles: list[CandleRecord]) -> None:
        result.emitted.extend(candles)
        if not higher:
            return
        book = rollups.setdefault(pair, RollupBook(pair, higher, lateness))
        for candle in candles:
            update = book.add_minute(candle)
            assert not update.dropped, f"minute arrived after its roll-ups were final: {update.dropped}"
            result.emitted.extend(update.candles)

    def advance(to_ns: int) -> None:
        for pair, book in minute_books.items():
            while (nt := book.next_tick()) is not None and nt <= to_ns:
                tick = book.on_tick(nt, lambda ws, p=pair: bags[p].get(ws, []))
                to_rollup(pair, tick.candles)
                if tick.expired_through_ns is not None:
                    for ws in [w for w in bags[pair] if w + MINUTE_NS <= tick.expired_through_ns]:
                        del bags[pair][ws]
        for book in rollups.values():
            while (nt := book.next_tick()) is not None and nt <= to_ns:
                result.emitted.extend(book.on_tick(nt).candles)

    for trade in arrivals:
        ws = minute_start(trade.event_ns)
        if watermark is not None and ws + MINUTE_NS + lateness <= watermark:
            result.late.append(trade)
            continue
        book = minute_books.setdefault(trade.currency_pair, MinuteBook(trade.currency_pair, lateness,
                                                                        fill_cap_s * 1_000_000_000))
        disposition = book.classify(ws)
        assert disposition is not Disposition.LATE, "the in-band watermark check runs first"
        bags[trade.currency_pair][ws].append(trade)
        if disposition is Disposition.OPEN:
            book.add_open(ws)
        else:
            to_rollup(trade.currency_pair, book.revise([ws], lambda w, p=trade.currency_pair: bags[p].get(w, [])))
        candidate = trade.event_ns - lag_ns
        if watermark is None or candidate > watermark:
            watermark = candidate
            advance(watermark)
    if final_watermark_ns is not None:
        advance(final_watermark_ns)
    return result
