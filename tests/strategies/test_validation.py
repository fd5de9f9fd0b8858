"""Bad input at the library's boundary: a clear error naming strategy, parameter, value or row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradestream.strategies import (
    InsufficientCandlesError,
    ParameterError,
    evaluate,
    get_strategy,
    validate_candles,
)


@pytest.fixture
def frame(month) -> pd.DataFrame:
    return month.iloc[:600].copy()


def test_parameter_outside_its_range_names_strategy_parameter_value_and_range(frame):
    with pytest.raises(ParameterError, match=r"MACD_CROSSOVER: parameter fast=60 is outside its range \[8, 16\]"):
        evaluate("MACD_CROSSOVER", frame, {"fast": 60})


def test_parameter_breaking_a_constraint_names_both_values(frame):
    with pytest.raises(ParameterError, match=r"DOUBLE_EMA_CROSSOVER: parameters violate constraint "
                                             r"short_period < long_period: short_period=30, long_period=30"):
        evaluate("DOUBLE_EMA_CROSSOVER", frame, {"short_period": 30, "long_period": 30})


def test_unknown_parameter_is_named_with_the_expected_ones(frame):
    with pytest.raises(ParameterError, match=r"SMA_RSI: unknown parameter\(s\) \['period'\]"):
        evaluate("SMA_RSI", frame, {"period": 14})


def test_non_numeric_and_fractional_integer_parameters_are_refused(frame):
    with pytest.raises(ParameterError, match="rsi_period='fourteen' is not a number"):
        evaluate("SMA_RSI", frame, {"rsi_period": "fourteen"})
    with pytest.raises(ParameterError, match="rsi_period=14.5 must be a whole number"):
        evaluate("SMA_RSI", frame, {"rsi_period": 14.5})


def test_too_few_candles_names_strategy_parameters_and_counts(frame):
    spec = get_strategy("MACD_CROSSOVER")
    need = spec.min_candles({"slow": 32})
    with pytest.raises(InsufficientCandlesError) as info:
        spec.signals(frame.iloc[: need - 1], {"slow": 32})
    message = str(info.value)
    assert "MACD_CROSSOVER" in message and "slow=32" in message
    assert f"needs at least {need} candles" in message and f"got {need - 1}" in message
    entries, _ = spec.signals(frame.iloc[:need], {"slow": 32})  # exactly enough is fine
    assert len(entries) == need


def test_strategy_needing_an_optional_column_names_it(frame):
    with pytest.raises(ValueError, match=r"TICK_VOLUME_ANALYSIS needs candle column\(s\) \['trade_count'\]"):
        evaluate("TICK_VOLUME_ANALYSIS", frame.drop(columns=["trade_count"]))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda f: f.iloc[:0], "candle frame is empty"),
    (lambda f: f.drop(columns=["volume"]), r"missing column\(s\) \['volume'\]"),
    (lambda f: f.assign(close=f["close"].where(f.index != f.index[5], np.nan)),
     r"candle column 'close' has 1 NaN/inf value\(s\), first at 2024-01-01T00:05:00\+00:00"),
    (lambda f: f.iloc[::-1], "not sorted by time"),
    (lambda f: pd.concat([f.iloc[:3], f.iloc[2:4]]), "duplicate window_start 2024-01-01T00:02:00"),
    (lambda f: f.tz_localize(None), "timezone-naive"),
    (lambda f: f.assign(high=f["low"] - 1.0), "has low=.* above high="),
    (lambda f: f.assign(volume=-1.0), "'volume' must be >= 0, got -1.0"),
    (lambda f: f.assign(close="x"), "'close' is not numeric"),
])
def test_broken_candle_frames_are_refused_with_what_is_wrong(frame, mutate, message):
    with pytest.raises(ValueError, match=message):
        evaluate("MACD_CROSSOVER", mutate(frame))


@pytest.mark.parametrize(("bad", "message"), [
    ([1, 2, 3], "must be a pandas DataFrame, got list"),
    (pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]}),
     "must be a DatetimeIndex"),
])
def test_wrong_kinds_of_candle_input_are_type_errors(bad, message):
    with pytest.raises(TypeError, match=message):
        validate_candles(bad)


def test_a_non_utc_index_is_converted_not_refused(frame):
    shifted = frame.tz_convert("America/New_York")
    assert str(validate_candles(shifted).index.tz) == "UTC"
    assert evaluate("MACD_CROSSOVER", shifted)[0].equals(evaluate("MACD_CROSSOVER", frame)[0])
