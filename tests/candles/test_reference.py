"""The DuckDB SQL reference: hand-checked cases, and agreement with the state machines."""

from __future__ import annotations

import pytest

from tests.candles.driver import drive
from tradestream.candles.model import TradeTick
from tradestream.candles.reference import diff_candles, reference_candles_for_ticks
from tradestream.candles.scenario import generate_scenario
from tradestream.timeframes import TIMEFRAMES

S = 1_000_000_000
M = 60 * S
DAY = 1440 * M
T0 = 1_700_006_400 * S  # 2023-11-15 00:00:00 UTC


def tick(pair: str, trade_id: str, at_ns: int, price: float, size: float = 1.0) -> TradeTick:
    return TradeTick("coinbase", pair, trade_id, at_ns, price, size)


def summary(candles):
    return [(c.currency_pair, c.timeframe, (c.window_start_ns - T0) // M, c.open, c.high, c.low, c.close,
             c.volume, c.trade_count, c.filled) for c in candles]


def test_reference_folds_dedupes_fills_and_caps_like_the_rules_say():
    trades = [tick("A-USD", "2", T0 + 40 * S, 12.0), tick("A-USD", "1", T0 + 10 * S, 10.0, 2.0),
              tick("A-USD", "1", T0 + 10 * S, 10.0, 2.0),  # duplicate
              tick("A-USD", "3", T0 + 4 * M + 1, 8.0, 0.5)]
    candles = reference_candles_for_ticks(trades, timeframes=["1m", "5m"], until_ns=T0 + 10 * M, fill_cap_s=120)
    assert summary(candles) == [
        ("A-USD", "1m", 0, 10.0, 12.0, 10.0, 12.0, 3.0, 2, False),
        ("A-USD", "1m", 1, 12.0, 12.0, 12.0, 12.0, 0.0, 0, True),
        ("A-USD", "1m", 2, 12.0, 12.0, 12.0, 12.0, 0.0, 0, True),  # minute 3 is beyond the 2-minute cap
        ("A-USD", "1m", 4, 8.0, 8.0, 8.0, 8.0, 0.5, 1, False),
        ("A-USD", "1m", 5, 8.0, 8.0, 8.0, 8.0, 0.0, 0, True),
        ("A-USD", "1m", 6, 8.0, 8.0, 8.0, 8.0, 0.0, 0, True),
        ("A-USD", "5m", 0, 10.0, 12.0, 8.0, 8.0, 3.5, 3, False),
        ("A-USD", "5m", 5, 8.0, 8.0, 8.0, 8.0, 0.0, 0, True),
    ]
    assert candles[0].vwap == (10.0 * 2 + 12.0) / 3


def test_reference_orders_equal_times_by_numeric_trade_id():
    trades = [tick("A-USD", "10", T0 + 5, 2.0), tick("A-USD", "9", T0 + 5, 1.0), tick("A-USD", "x", T0 + 5, 3.0)]
    [candle] = reference_candles_for_ticks(trades, timeframes=["1m"], until_ns=T0 + M, fill_cap_s=60)
    assert (candle.open, candle.close) == (1.0, 3.0)


def test_reference_in_batch_bounds_emits_only_windows_inside_from_and_until():
    trades = [tick("A-USD", str(i), T0 + i * M + 1, 10.0 + i) for i in range(12)]
    candles = reference_candles_for_ticks(trades, timeframes=["1m", "5m"], from_ns=T0 + 3 * M,
                                          until_ns=T0 + 11 * M, fill_cap_s=600)
    one = [c for c in candles if c.timeframe == "1m"]
    five = [c for c in candles if c.timeframe == "5m"]
    assert [(c.window_start_ns - T0) // M for c in one] == list(range(3, 11))
    assert [(c.window_start_ns - T0) // M for c in five] == [5]  # [0,5) starts before `from`, [10,15) ends after


def test_reference_rejects_a_cap_below_one_minute():
    with pytest.raises(ValueError, match="fill_cap_s=10"):
        reference_candles_for_ticks([], timeframes=["1m"], until_ns=T0, fill_cap_s=10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_state_machines_agree_with_the_sql_reference_on_disordered_late_and_duplicated_trades(seed):
    lag = 2 * S
    scenario = generate_scenario(seed=seed, start_ns=T0 + DAY - 10 * M, minutes=24, boundary_minute=14)
    result = drive(scenario.arrivals, lateness_s=30, fill_cap_s=4 * 60, lag_ns=lag, timeframes=TIMEFRAMES)
    final_watermark = scenario.end_ns - 1_000 - lag
    assert {(t.trade_id, t.event_ns) for t in result.late} == \
        {(t.trade_id, t.event_ns) for t in scenario.beyond_lateness}
    expected = reference_candles_for_ticks(scenario.accepted, timeframes=TIMEFRAMES, until_ns=final_watermark,
                                           fill_cap_s=4 * 60)
    assert {c.timeframe for c in expected} == set(TIMEFRAMES)  # the data crosses a UTC midnight
    assert diff_candles(result.final().values(), expected) == []
    revised = {c.key for c in result.emitted if c.revision > 0}
    assert {(t.currency_pair, "1m", t.event_ns - t.event_ns % M) for t in scenario.revising} <= revised
