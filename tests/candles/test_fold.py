"""The candle fold: ordering, de-duplication, exact sums, fill and roll-up rules."""

from __future__ import annotations

import functools
import itertools
import math
import operator

import pytest

from tradestream.candles.fold import (
    combine_candles,
    dedupe_trades,
    exact_partials,
    fill_allowed,
    filled_candle,
    fold_trades,
)
from tradestream.candles.model import TradeTick

M = 60_000_000_000
T0 = 1_700_000_000 // 60 * 60 * 1_000_000_000  # a UTC minute boundary


def tick(trade_id: str, at_ns: int, price: float, size: float = 1.0, exchange: str = "coinbase") -> TradeTick:
    return TradeTick(exchange, "BTC-USD", trade_id, at_ns, price, size)


def fold(trades):
    return fold_trades("BTC-USD", "1m", T0, T0 + M, trades)


def test_open_and_close_follow_event_time_not_arrival_order():
    candle = fold([tick("2", T0 + 30, 11.0), tick("1", T0 + 10, 10.0), tick("3", T0 + 50, 12.0)])
    assert (candle.open, candle.close, candle.high, candle.low) == (10.0, 12.0, 12.0, 10.0)


def test_equal_event_times_order_numeric_trade_ids_as_numbers():
    # "9" < "10" as numbers although "10" < "9" as text
    candle = fold([tick("10", T0 + 5, 20.0), tick("9", T0 + 5, 19.0)])
    assert (candle.open, candle.close) == (19.0, 20.0)


def test_numeric_trade_ids_come_before_text_ids_at_equal_event_times():
    candle = fold([tick("abc", T0 + 5, 30.0), tick("7", T0 + 5, 29.0), tick("abd", T0 + 5, 31.0)])
    assert (candle.open, candle.close) == (29.0, 31.0)


def test_duplicates_on_exchange_pair_and_id_count_once_and_first_copy_wins():
    trades = [tick("1", T0 + 1, 10.0, 2.0), tick("1", T0 + 1, 10.0, 2.0), tick("1", T0 + 1, 99.0, 5.0, "kraken")]
    unique = dedupe_trades(trades)
    assert unique == [trades[0], trades[2]]
    candle = fold(unique)
    assert (candle.trade_count, candle.volume) == (2, 7.0)


def test_volume_and_vwap_are_exact_sums_whatever_the_order():
    sizes = [0.1] * 10 + [1e-17, 3.3, 1e8, 2.2e-9]
    results = set()
    for perm in itertools.islice(itertools.permutations(range(len(sizes))), 0, 5000, 97):
        trades = [tick(str(i), T0 + i, 100.0 + i, sizes[i]) for i in perm]
        candle = fold(trades)
        results.add((candle.volume, candle.vwap))
    assert len(results) == 1
    volume, vwap = results.pop()
    assert volume == math.fsum(sizes)
    assert vwap == math.fsum((100.0 + i) * s for i, s in enumerate(sizes)) / math.fsum(sizes)
    naive = functools.reduce(operator.add, [0.1] * 10)  # left-to-right double additions
    assert naive != 1.0 and fold([tick(str(i), T0 + i, 1.0, 0.1) for i in range(10)]).volume == 1.0


def test_exact_partials_merge_without_rounding_error():
    a, b = [0.1] * 7, [1e16, 0.1, -1e16 + 2.0]
    assert math.fsum(exact_partials(a) + exact_partials(b)) == math.fsum(a + b)


def test_exact_sums_refuse_non_finite_values_instead_of_looping():
    with pytest.raises(ValueError, match="must be finite"):
        exact_partials([1.0, float("inf")])


def test_an_empty_window_cannot_be_folded():
    with pytest.raises(ValueError, match="empty window of BTC-USD 1m"):
        fold([])


def test_filled_candle_repeats_the_previous_close_with_no_volume():
    candle = filled_candle("BTC-USD", "1m", T0, T0 + M, 42.5)
    assert (candle.open, candle.high, candle.low, candle.close, candle.vwap) == (42.5,) * 5
    assert (candle.volume, candle.trade_count, candle.filled) == (0.0, 0, True)


def test_fill_stops_once_the_gap_since_the_last_traded_minute_reaches_the_cap():
    cap = 3 * M
    last_traded_end = T0 + M
    assert fill_allowed(T0 + M, last_traded_end, cap)
    assert fill_allowed(T0 + 3 * M, last_traded_end, cap)
    assert not fill_allowed(T0 + 4 * M, last_traded_end, cap)
    assert not fill_allowed(T0 + M, None, cap)


def test_rollup_uses_traded_minutes_only_and_sums_exactly():
    first = filled_candle("BTC-USD", "1m", T0, T0 + M, 50.0)
    second = fold_trades("BTC-USD", "1m", T0 + M, T0 + 2 * M,
                         [tick(str(i), T0 + M + i, 60.0 + i, 0.1) for i in range(5)])
    third = fold_trades("BTC-USD", "1m", T0 + 2 * M, T0 + 3 * M, [tick(str(i), T0 + 2 * M + i, 40.0, 0.1)
                                                                  for i in range(5, 10)])
    five = combine_candles("BTC-USD", "5m", T0, T0 + 5 * M, [first, second, third])
    assert (five.open, five.high, five.low, five.close) == (60.0, 64.0, 40.0, 40.0)
    assert five.volume == 1.0  # ten sizes of 0.1, summed exactly across minutes
    assert five.trade_count == 10 and not five.filled
    assert five.vwap == math.fsum([(60.0 + i) * 0.1 for i in range(5)] + [40.0 * 0.1] * 5) / 1.0


def test_rollup_of_only_filled_minutes_is_filled():
    minutes = [filled_candle("BTC-USD", "1m", T0 + i * M, T0 + (i + 1) * M, 7.0) for i in range(5)]
    five = combine_candles("BTC-USD", "5m", T0, T0 + 5 * M, minutes)
    assert five.filled and five.close == 7.0 and five.volume == 0.0
