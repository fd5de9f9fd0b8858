"""MinuteBook and RollupBook on hand-written cases: closing, fill-forward, cap, revisions, lateness."""

from __future__ import annotations

import pickle
from collections import defaultdict

import pytest

from tradestream.candles.book import MinuteBook, RollupBook, fold_minute
from tradestream.candles.fold import filled_candle, fold_trades
from tradestream.candles.model import TradeTick

S = 1_000_000_000
M = 60 * S
T0 = 1_700_000_000 // 3600 * 3600 * S  # a UTC hour boundary
LATENESS = 30 * S


class Pair:
    """One pair's MinuteBook, fed the way the fold stage feeds it: the newest fold of a minute
    each time a trade arrives for it."""

    def __init__(self, cap_minutes: int = 1440, fill_until_ns: int | None = None, lateness_ns: int = LATENESS):
        self.book = MinuteBook("ETH-USD", lateness_ns, cap_minutes * M, fill_until_ns=fill_until_ns)
        self.minutes: dict[int, list[TradeTick]] = defaultdict(list)
        self.ids = 0

    def trade(self, at_ns: int, price: float, size: float = 1.0, trade_id: str | None = None):
        if trade_id is None:
            self.ids += 1
            trade_id = str(self.ids)
        ws = at_ns - at_ns % M
        self.minutes[ws].append(TradeTick("coinbase", "ETH-USD", trade_id, at_ns, price, size))
        return self.book.add_fold(fold_minute("ETH-USD", ws, self.minutes[ws]))

    def tick(self, at_ns: int):
        return self.book.on_tick(at_ns)


def summary(candles):
    return [((c.window_start_ns - T0) // M, c.open, c.close, c.trade_count, c.filled, c.revision) for c in candles]


def test_minutes_close_when_the_watermark_passes_and_gaps_are_filled_with_the_previous_close():
    pair = Pair()
    pair.trade(T0 + 5 * S, 10.0)
    pair.trade(T0 + 50 * S, 11.0)
    pair.trade(T0 + 3 * M + 1 * S, 12.0)
    assert pair.book.next_tick() == T0 + M
    assert pair.tick(T0 + M - 1) == []  # event time has not passed the minute yet
    candles = pair.tick(T0 + 5 * M)
    assert summary(candles) == [(0, 10.0, 11.0, 2, False, 0), (1, 11.0, 11.0, 0, True, 0),
                                (2, 11.0, 11.0, 0, True, 0), (3, 12.0, 12.0, 1, False, 0),
                                (4, 12.0, 12.0, 0, True, 0)]
    # minutes 0-3 are final (ended >= 30 s before the tick); minute 4 is revisable until 5m30s
    assert pair.book.is_final(T0 + 3 * M) and not pair.book.is_final(T0 + 4 * M)
    assert pair.book.is_closed(T0 + 4 * M) and not pair.book.is_closed(T0 + 5 * M)
    assert pair.book.next_tick() == T0 + 5 * M + LATENESS


def test_fill_forward_stops_at_the_cap_and_the_book_goes_idle():
    pair = Pair(cap_minutes=2)
    pair.trade(T0 + 1 * S, 10.0)
    candles = pair.tick(T0 + 10 * M)
    assert summary(candles) == [(0, 10.0, 10.0, 1, False, 0), (1, 10.0, 10.0, 0, True, 0),
                                (2, 10.0, 10.0, 0, True, 0)]
    assert pair.book.idle and pair.book.next_tick() is None


def test_a_new_trade_after_a_long_quiet_spell_restarts_candles_without_filling_the_gap():
    pair = Pair(cap_minutes=2)
    pair.trade(T0 + 1 * S, 10.0)
    pair.tick(T0 + 10 * M)
    update = pair.trade(T0 + 12 * M + 3 * S, 15.0)
    assert update.candles == [] and update.dropped == []  # not closed yet: nothing to publish
    assert pair.book.next_tick() == T0 + 13 * M
    assert summary(pair.tick(T0 + 14 * M)) == [(12, 15.0, 15.0, 1, False, 0), (13, 15.0, 15.0, 0, True, 0)]


def test_a_late_trade_within_lateness_revises_its_minute_and_the_filled_minutes_after_it():
    pair = Pair(lateness_ns=5 * M)
    pair.trade(T0 + 10 * S, 10.0)
    pair.tick(T0 + 2 * M)
    revised = pair.trade(T0 + 59 * S, 99.0).candles
    assert summary(revised) == [(0, 10.0, 99.0, 2, False, 1), (1, 99.0, 99.0, 0, True, 1)]


def test_a_late_duplicate_changes_nothing_and_emits_nothing():
    pair = Pair()
    pair.trade(T0 + 10 * S, 10.0, trade_id="7")
    pair.tick(T0 + M)
    update = pair.trade(T0 + 10 * S, 10.0, trade_id="7")
    assert pair.book.is_closed(T0) and update.candles == [] and update.dropped == []


def test_a_late_trade_into_a_filled_minute_turns_it_into_a_traded_candle():
    pair = Pair(lateness_ns=5 * M)
    pair.trade(T0 + 10 * S, 10.0)
    pair.tick(T0 + 3 * M)
    revised = pair.trade(T0 + M + 5 * S, 20.0).candles
    assert summary(revised) == [(1, 20.0, 20.0, 1, False, 1), (2, 20.0, 20.0, 0, True, 1)]


def test_a_minute_is_final_once_the_watermark_is_past_its_end_plus_the_allowed_lateness():
    pair = Pair()
    pair.trade(T0 + 10 * S, 10.0)
    pair.tick(T0 + M + LATENESS - 1)
    assert pair.book.is_closed(T0) and not pair.book.is_final(T0)
    pair.tick(T0 + M + LATENESS)
    assert pair.book.is_final(T0)
    update = pair.trade(T0 + 20 * S, 11.0)
    assert update.candles == [] and [c.trade_count for c in update.dropped] == [2]


def test_batch_mode_never_emits_a_minute_ending_after_the_bound():
    pair = Pair(fill_until_ns=T0 + 3 * M)
    pair.trade(T0 + 10 * S, 10.0)
    assert [c.window_start_ns for c in pair.tick(T0 + 100 * M)] == [T0, T0 + M, T0 + 2 * M]
    assert pair.book.idle


def test_book_state_survives_pickling():
    pair = Pair()
    pair.trade(T0 + 10 * S, 10.0)
    pair.tick(T0 + 2 * M)
    restored = pickle.loads(pickle.dumps(pair.book))
    assert restored == pair.book


def minute(i: int, price: float, count: int = 1) -> object:
    trades = [TradeTick("coinbase", "ETH-USD", f"{i}-{k}", T0 + i * M + k, price, 1.0) for k in range(count)]
    return fold_trades("ETH-USD", "1m", T0 + i * M, T0 + (i + 1) * M, trades)


def test_rollup_emits_each_higher_window_once_the_watermark_passes_its_end():
    book = RollupBook("ETH-USD", ("5m", "15m"), LATENESS)
    for i in range(7):
        assert book.add_minute(minute(i, 10.0 + i)).candles == []
    assert book.next_tick() == T0 + 5 * M
    out = book.on_tick(T0 + 5 * M).candles
    assert [(c.timeframe, c.open, c.close, c.trade_count) for c in out] == [("5m", 10.0, 14.0, 5)]
    assert book.next_tick() == T0 + 5 * M + LATENESS


def test_rollup_revises_a_closed_window_when_one_of_its_minutes_is_revised():
    book = RollupBook("ETH-USD", ("5m",), LATENESS)
    for i in range(5):
        book.add_minute(minute(i, 10.0))
    book.on_tick(T0 + 5 * M)
    revised = minute(4, 50.0, count=2).with_revision(1)
    out = book.add_minute(revised).candles
    assert [(c.timeframe, c.close, c.trade_count, c.revision) for c in out] == [("5m", 50.0, 6, 1)]


def test_rollup_of_filled_minutes_is_filled_and_windows_without_minutes_are_skipped():
    book = RollupBook("ETH-USD", ("5m",), LATENESS)
    for i in range(10, 15):
        book.add_minute(filled_candle("ETH-USD", "1m", T0 + i * M, T0 + (i + 1) * M, 8.0))
    out = book.on_tick(T0 + 20 * M).candles
    assert [(c.window_start_ns, c.filled, c.close) for c in out] == [(T0 + 10 * M, True, 8.0)]


def test_rollup_drops_a_minute_that_arrives_after_all_its_windows_are_final():
    book = RollupBook("ETH-USD", ("5m",), LATENESS)
    book.add_minute(minute(0, 10.0))
    book.on_tick(T0 + 5 * M + LATENESS)
    assert book.idle
    update = book.add_minute(minute(1, 10.0))
    assert update.candles == [] and len(update.dropped) == 1


def test_rollup_rejects_the_base_timeframe_as_a_rollup_target():
    with pytest.raises(ValueError, match="higher than 1m"):
        RollupBook("ETH-USD", ("1m", "5m"), LATENESS)
