"""Drives the candle state machines the way the Beam transforms do, without Beam.

Trades arrive in a given order; the watermark follows the largest event time seen minus a
lag; a trade whose minute ended more than the allowed lateness before the watermark is
late (rejected at the source, as DecodeTrades does). Every other trade re-folds its minute
and hands the fold to the pair's MinuteBook (the fold stage sends a fold when a minute
closes and again when a late trade changes it; sending it earlier changes nothing, the
book keeps the newest). Used by the unit tests to check the state machines against the
SQL reference on generated data with out-of-order, late and duplicate trades.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tradestream.candles.book import MinuteBook, RollupBook, fold_minute
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.windows import higher_timeframes, minute_start
from tradestream.timeframes import MINUTE_NS


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
    minutes: dict[tuple[str, int], list[TradeTick]] = defaultdict(list)
    higher = higher_timeframes(timeframes)
    watermark: int | None = None

    def publish(pair: str, candles: list[CandleRecord]) -> None:
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
                publish(pair, book.on_tick(nt))
        for book in rollups.values():
            while (nt := book.next_tick()) is not None and nt <= to_ns:
                result.emitted.extend(book.on_tick(nt).candles)

    for trade in arrivals:
        ws = minute_start(trade.event_ns)
        if watermark is not None and ws + MINUTE_NS + lateness <= watermark:
            result.late.append(trade)
            continue
        pair = trade.currency_pair
        book = minute_books.setdefault(pair, MinuteBook(pair, lateness, fill_cap_s * 1_000_000_000))
        minutes[(pair, ws)].append(trade)
        update = book.add_fold(fold_minute(pair, ws, minutes[(pair, ws)]))
        assert not update.dropped, "the in-band watermark check runs first"
        publish(pair, update.candles)
        candidate = trade.event_ns - lag_ns
        if watermark is None or candidate > watermark:
            watermark = candidate
            advance(watermark)
    if final_watermark_ns is not None:
        advance(final_watermark_ns)
    return result
