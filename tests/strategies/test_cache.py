"""The shared indicator cache: one computation per (indicator, parameters, inputs) and frame."""

from __future__ import annotations

from collections import Counter

import pytest

from tradestream.strategies import IndicatorCache, evaluate, get_strategy, strategy_names, validate_candles
from tradestream.strategies.config import ActiveStrategySet
from tradestream.strategies.live import evaluate_last_bar, frame_bucket


def test_all_60_strategies_share_indicators_through_one_cache(month):
    cache = IndicatorCache(month.iloc[:3000])
    frame = cache.frame
    for name in strategy_names():
        get_strategy(name).signals(frame, cache=cache)
    assert cache.misses == len(cache), "an indicator call was computed twice"
    assert cache.hits > 30, f"only {cache.hits} reuses across 60 strategies"


def test_shared_call_is_computed_once_and_reused_across_strategies(month):
    cache = IndicatorCache(month.iloc[:2000])
    evaluate("MACD_CROSSOVER", cache.frame, cache=cache)
    misses = cache.misses
    evaluate("EMA_MACD", cache.frame, cache=cache)  # same macd(12, 26, 9) plus one new ema(50)
    assert cache.misses == misses + 1
    macd_keys = [k for k in cache.keys() if k[0] == "macd"]
    assert len(macd_keys) == 1


@pytest.mark.parametrize("name", ["ATR_CCI", "PIVOT", "VOLUME_PROFILE_DEVIATIONS", "RAINBOW_OSCILLATOR", "SAR_MFI"])
def test_cached_results_equal_uncached_ones(name, month):
    frame = month.iloc[:4000]
    shared = IndicatorCache(frame)
    for other in strategy_names():  # fill the cache with everybody else's indicators first
        if other != name:
            get_strategy(other).signals(frame, cache=shared)
    with_cache = get_strategy(name).signals(frame, cache=shared)
    alone = get_strategy(name).signals(frame)
    assert with_cache[0].equals(alone[0]) and with_cache[1].equals(alone[1])


def test_a_cache_refuses_a_second_frame(month):
    cache = IndicatorCache(month.iloc[:500])
    with pytest.raises(ValueError, match="belongs to another candle frame .*create one IndicatorCache per frame"):
        evaluate("MACD_CROSSOVER", month.iloc[:600], cache=cache)


def test_a_tail_serves_the_last_rows_of_a_result_computed_on_a_longer_frame(month):
    cache = IndicatorCache(month.iloc[:1000])
    long_result = cache.get_or_compute("k", lambda: cache.frame["close"] * 2)
    tail = cache.tail(300)
    served = tail.get_or_compute("k", lambda: pytest.fail("recomputed although a longer result exists"))
    assert served.index.equals(tail.frame.index) and served.equals(long_result.iloc[-300:])
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_longer_tail_recomputes_what_a_shorter_one_stored(month):
    cache = IndicatorCache(month.iloc[:1000])
    short = cache.tail(100).get_or_compute("k", lambda: cache.tail(100).frame["close"])
    longer = cache.tail(400).get_or_compute("k", lambda: cache.tail(400).frame["close"])
    assert len(short) == 100 and len(longer) == 400 and cache.misses == 2
    assert len(cache.tail(200).get_or_compute("k", lambda: pytest.fail("recomputed"))) == 200


def test_a_tail_outside_the_frame_is_refused(month):
    cache = IndicatorCache(month.iloc[:100])
    with pytest.raises(ValueError, match=r"tail of 101 candles is outside \[1, 100\]"):
        cache.tail(101)
    with pytest.raises(ValueError, match="bind the IndicatorCache"):
        IndicatorCache().tail(10)


def test_live_evaluation_computes_each_indicator_once_per_candle(month, monkeypatch):
    """All 60 strategies on one candle: every distinct indicator call is computed exactly once,
    although the strategies run on frames of different lengths."""
    active = ActiveStrategySet.default()
    entries = active.for_stream("BTC-USD", "1m")
    window = active.window_for("BTC-USD", "1m")
    frame = validate_candles(month.iloc[1000: 1000 + window])
    assert len({min(frame_bucket(e.window), window) for e in entries}) > 3  # several frame lengths

    computed: list[object] = []  # cache keys whose computation actually ran
    original = IndicatorCache.get_or_compute

    def recording(self, key, compute):
        return original(self, key, lambda: computed.append(key) or compute())

    monkeypatch.setattr(IndicatorCache, "get_or_compute", recording)
    results, failures = evaluate_last_bar(frame, entries, complete=False)
    assert not failures and len(results) == 60
    repeated = [call for call, n in Counter(computed).items() if n > 1]
    assert not repeated, f"computed more than once on one candle: {repeated[:3]}"

    computed.clear()
    unshared, _ = evaluate_last_bar(frame, entries, complete=False, share_cache=False)
    assert unshared == results  # sharing changes the cost, never a signal
    assert len(computed) > len(set(computed))  # without the cache the same calls do repeat
