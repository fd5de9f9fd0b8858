"""The vectorized batch fold equals the streaming state machines and the SQL reference on the same trades."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from tradestream.candles.batch import Carry, TradeArrays, fold_batch
from tradestream.candles.book import MinuteBook, RollupBook, fold_minute
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.reference import diff_candles, reference_candles_for_ticks
from tradestream.candles.scenario import generate_scenario
from tradestream.candles.windows import higher_timeframes, minute_start
from tradestream.timeframes import MINUTE_NS, TIMEFRAMES

S = 1_000_000_000
M = MINUTE_NS
DAY = 1440 * M
T0 = 1_700_006_400 * S  # 2023-11-15 00:00:00 UTC


def tick(pair: str, trade_id: str, at_ns: int, price: float, size: float = 1.0) -> TradeTick:
    return TradeTick("coinbase", pair, trade_id, at_ns, price, size)


def books_in_batch(trades: list[TradeTick], *, timeframes, until_ns: int, fill_cap_ns: int,
                   from_ns: int | None = None, carry: dict[str, Carry] | None = None) -> list[CandleRecord]:
    """What the batch candle job computes: each pair's MinuteBook and RollupBook bounded by [from, until),
    fed every minute's fold, then ticked until nothing is left (the watermark jumps to the end)."""
    carry = carry or {}
    minutes: dict[str, dict[int, list[TradeTick]]] = defaultdict(lambda: defaultdict(list))
    for t in trades:
        if t.event_ns < until_ns and (from_ns is None or t.event_ns >= from_ns):
            minutes[t.currency_pair][minute_start(t.event_ns)].append(t)
    higher = higher_timeframes(list(timeframes))
    out: list[CandleRecord] = []
    for pair in sorted(set(minutes) | set(carry)):
        book = MinuteBook(pair, 0, fill_cap_ns, fill_until_ns=until_ns)
        if pair in carry:  # a stream that closed every minute before `from`
            book.closed_through_ns = book.expired_through_ns = from_ns
            book.base_close, book.base_traded_end_ns = carry[pair].close, carry[pair].traded_end_ns
        rollup = RollupBook(pair, higher, 0, fill_until_ns=until_ns, emit_from_ns=from_ns)
        for ws, minute_trades in sorted(minutes[pair].items()):
            book.add_fold(fold_minute(pair, ws, minute_trades))
        emitted = []
        while (nt := book.next_tick()) is not None:
            emitted.extend(book.on_tick(nt))
        for candle in emitted:
            rollup.add_minute(candle)
        out.extend(emitted)
        while (nt := rollup.next_tick()) is not None:
            out.extend(rollup.on_tick(nt).candles)
    final: dict[tuple, CandleRecord] = {}
    for candle in out:
        final[candle.key] = candle
    return list(final.values())


def exactly_equal(actual: list[CandleRecord], expected: list[CandleRecord]) -> list[str]:
    got = {c.key: c.values for c in actual}
    want = {c.key: c.values for c in expected}
    return [f"{key}: got {got.get(key)} want {want.get(key)}" for key in sorted(got.keys() | want.keys())
            if got.get(key) != want.get(key)][:10]


def test_a_hand_worked_case_folds_fills_caps_and_rolls_up():
    # the reference's own hand-checked case (tests/candles/test_reference.py)
    trades = [tick("A-USD", "2", T0 + 40 * S, 12.0), tick("A-USD", "1", T0 + 10 * S, 10.0, 2.0),
              tick("A-USD", "1", T0 + 10 * S, 10.0, 2.0), tick("A-USD", "3", T0 + 4 * M + 1, 8.0, 0.5)]
    candles = fold_batch(TradeArrays.from_ticks(trades), timeframes=["1m", "5m"], until_ns=T0 + 10 * M,
                         fill_cap_ns=120 * S).records()
    assert [((c.window_start_ns - T0) // M, c.timeframe, c.open, c.close, c.volume, c.trade_count, c.filled)
            for c in candles] == [
        (0, "1m", 10.0, 12.0, 3.0, 2, False), (1, "1m", 12.0, 12.0, 0.0, 0, True),
        (2, "1m", 12.0, 12.0, 0.0, 0, True), (4, "1m", 8.0, 8.0, 0.5, 1, False),
        (5, "1m", 8.0, 8.0, 0.0, 0, True), (6, "1m", 8.0, 8.0, 0.0, 0, True),
        (0, "5m", 10.0, 8.0, 3.5, 3, False), (5, "5m", 8.0, 8.0, 0.0, 0, True)]
    assert candles[0].vwap == (10.0 * 2 + 12.0) / 3


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_fold_equals_the_state_machines_and_the_sql_reference(seed):
    scenario = generate_scenario(seed=seed, start_ns=T0 + DAY - 10 * M, minutes=24, boundary_minute=14)
    trades = scenario.accepted  # with duplicates, disorder, text ids, quiet gaps, a late starter
    until = scenario.end_ns - scenario.end_ns % M
    cap = 4 * 60 * S
    batch = fold_batch(TradeArrays.from_ticks(trades), timeframes=TIMEFRAMES, until_ns=until,
                       fill_cap_ns=cap).records()
    assert {c.timeframe for c in batch} == set(TIMEFRAMES)
    assert exactly_equal(batch, books_in_batch(trades, timeframes=TIMEFRAMES, until_ns=until, fill_cap_ns=cap)) == []
    expected = reference_candles_for_ticks(trades, timeframes=TIMEFRAMES, until_ns=until, fill_cap_s=cap // S)
    assert diff_candles(batch, expected) == []


def test_days_folded_one_after_the_other_with_the_carry_equal_one_fold_over_both():
    rng = random.Random(11)
    trades, t, price = [], T0 + 3 * M, 100.0
    for n in range(4000):  # two days with quiet stretches longer and shorter than the cap
        t += int(rng.expovariate(1 / 40) * S) + (rng.random() < 0.01) * rng.randint(1, 90) * M
        price = round(price * (1 + rng.gauss(0, 0.001)), 2)
        trades.append(tick("BTC-USD", str(10**6 + n), t, price, round(rng.uniform(0.001, 2), 6)))
    end = T0 + 2 * DAY
    trades = [x for x in trades if x.event_ns < end]
    cap = 30 * M
    arrays = TradeArrays.from_ticks(trades)
    day1 = fold_batch(arrays, timeframes=TIMEFRAMES, from_ns=T0, until_ns=T0 + DAY, fill_cap_ns=cap)
    day2 = fold_batch(arrays, timeframes=TIMEFRAMES, from_ns=T0 + DAY, until_ns=end, fill_cap_ns=cap,
                      carry=day1.carry)
    chained = day1.records() + day2.records()
    whole = fold_batch(arrays, timeframes=TIMEFRAMES, from_ns=T0, until_ns=end, fill_cap_ns=cap).records()
    assert exactly_equal(chained, whole) == []
    # and the second day alone, carried, is what the state machines of a running stream give
    books = books_in_batch(trades, timeframes=TIMEFRAMES, from_ns=T0 + DAY, until_ns=end, fill_cap_ns=cap,
                           carry=day1.carry)
    assert exactly_equal(day2.records(), books) == []
    reference = [c for c in reference_candles_for_ticks(trades, timeframes=TIMEFRAMES, until_ns=end,
                                                        fill_cap_s=cap // S) if c.window_start_ns >= T0 + DAY]
    assert diff_candles(day2.records(), reference) == []


def test_a_carried_pair_without_trades_is_filled_up_to_the_cap():
    result = fold_batch(TradeArrays.from_ticks([]), timeframes=["1m", "5m"], from_ns=T0, until_ns=T0 + 10 * M,
                        fill_cap_ns=3 * M + 1, carry={"A-USD": Carry(5.0, T0 - M)})
    one = [c for c in result.records() if c.timeframe == "1m"]
    assert [(c.window_start_ns - T0) // M for c in one] == [0, 1, 2]  # starts < T0 - 1m + 3m + 1 ns
    assert all(c.filled and c.close == 5.0 for c in one)
    assert [(c.timeframe, c.filled) for c in result.records() if c.timeframe == "5m"] == [("5m", True)]
    assert result.carry == {"A-USD": Carry(5.0, T0 - M)}


def test_integer_ids_order_like_their_text():
    trades = [tick("A-USD", "10", T0 + 5, 2.0), tick("A-USD", "9", T0 + 5, 1.0), tick("A-USD", "11", T0 + 6, 3.0)]
    as_text = fold_batch(TradeArrays.from_ticks(trades), timeframes=["1m"], until_ns=T0 + M, fill_cap_ns=M)
    as_ints = fold_batch(TradeArrays.of(exchange="coinbase", currency_pair="A-USD", trade_id=[10, 9, 11],
                                        event_ns=[T0 + 5, T0 + 5, T0 + 6], price=[2.0, 1.0, 3.0],
                                        size=[1.0, 1.0, 1.0]), timeframes=["1m"], until_ns=T0 + M, fill_cap_ns=M)
    assert as_text.records() == as_ints.records()
    assert (as_ints.records()[0].open, as_ints.records()[0].close) == (1.0, 3.0)


def test_bounds_that_are_not_whole_minutes_are_refused():
    with pytest.raises(ValueError, match="from_ns=.* whole UTC minute"):
        fold_batch(TradeArrays.from_ticks([]), timeframes=["1m"], from_ns=T0 + 1, until_ns=T0 + M, fill_cap_ns=M)
