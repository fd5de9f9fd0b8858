"""The timeframe table: every stage reads the same names and durations, and refuses the same ones."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from tradestream.backtest import BacktestInputError
from tradestream.backtest.candles import validate_candles
from tradestream.settings import PipelineSettings
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.timeframes import (
    TIMEFRAME_NS,
    TIMEFRAMES,
    UnknownTimeframeError,
    check_timeframes,
    parse_timeframe,
    timeframe_of_duration,
)


def test_the_table_runs_from_one_minute_to_one_day_in_ascending_duration():
    assert TIMEFRAMES == ("1m", "5m", "15m", "1h", "4h", "1d")
    durations = [TIMEFRAME_NS[tf] for tf in TIMEFRAMES]
    assert durations == sorted(durations)
    for name in TIMEFRAMES:
        tf = parse_timeframe(name)
        assert pd.Timedelta(tf.pandas_freq) == pd.Timedelta(tf.ns, unit="ns") == pd.Timedelta(tf.timedelta)
        assert timeframe_of_duration(tf.ns) is tf


def test_annualization_counts_bars_in_a_365_day_year():
    assert parse_timeframe("1m").periods_per_year == 525_600
    assert parse_timeframe("1h").periods_per_year == 8_760
    assert parse_timeframe("1d").periods_per_year == 365


def test_an_unknown_timeframe_is_named_with_the_valid_ones():
    with pytest.raises(UnknownTimeframeError, match=r"timeframe '7x' is unknown; choose from \['1m', .*'1d'\]$"):
        parse_timeframe("7x")
    with pytest.raises(UnknownTimeframeError, match=r"unknown timeframe\(s\) \['2m', '3h'\]; choose from"):
        check_timeframes(["1m", "2m", "3h"])


@pytest.mark.parametrize("longer", ["1w", "2d", "1M"])
def test_bars_longer_than_a_day_are_refused_with_the_reason(longer: str):
    with pytest.raises(UnknownTimeframeError, match="bars longer than a day are not built"):
        parse_timeframe(longer)


def test_every_stage_refuses_a_weekly_timeframe():
    with pytest.raises(ValidationError, match="bars longer than a day are not built"):
        PipelineSettings(timeframes=["1m", "1w"])
    with pytest.raises(ValueError, match="timeframe '1w' is unknown"):
        synthetic_candles(days=30, timeframe="1w")
    weekly = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0},
                          index=pd.date_range("2024-01-01", periods=4, freq="7D", tz="UTC"))
    with pytest.raises(BacktestInputError, match="timeframe '1w' is unknown"):
        validate_candles(weekly, "1w")
    with pytest.raises(BacktestInputError, match="7 days 00:00:00 apart, which is not a platform timeframe "
                                                 r"\(bars longer than a day are not supported"):
        validate_candles(weekly)
