"""The shared indicator cache: one computation per (indicator, parameters, inputs) and frame."""

from __future__ import annotations

import pytest

from tradestream.strategies import IndicatorCache, evaluate, get_strategy, strategy_names


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
