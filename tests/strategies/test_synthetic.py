"""The standard synthetic market: seeded, valid, a month of 1-minute candles with regimes."""

from __future__ import annotations

import numpy as np
import pytest

from tradestream.strategies import validate_candles
from tradestream.strategies.synthetic import synthetic_candles


def test_default_is_30_days_of_valid_1_minute_candles_with_optional_columns(month):
    assert len(month) == 43_200
    assert (month.index[1] - month.index[0]).total_seconds() == 60
    assert list(month.columns) == ["open", "high", "low", "close", "volume", "vwap", "trade_count"]
    validate_candles(month)
    assert ((month.vwap >= month.low) & (month.vwap <= month.high)).all()


def test_same_seed_same_market_other_seed_other_market():
    assert synthetic_candles(days=1, seed=7).equals(synthetic_candles(days=1, seed=7))
    assert not synthetic_candles(days=1, seed=8)["close"].equals(synthetic_candles(days=1, seed=7)["close"])


def test_regimes_change_volatility_and_direction_over_the_month(month):
    returns = np.log(month.close).diff().dropna()
    hourly_vol = returns.groupby(returns.index.floor("6h")).std()
    assert hourly_vol.max() > 2 * hourly_vol.min()
    daily_moves = np.log(month.close).resample("1D").last().diff().dropna()
    assert (daily_moves > 0.01).any() and (daily_moves < -0.01).any()
    gaps = (month.open / month.close.shift() - 1).abs()
    assert (gaps > 5 * gaps.median()).sum() > 20  # occasional jumps at the open


def test_other_timeframes_and_bad_arguments():
    hourly = synthetic_candles(days=10, timeframe="1h")
    assert len(hourly) == 240 and (hourly.index[1] - hourly.index[0]).total_seconds() == 3600
    with pytest.raises(ValueError, match="timeframe '2m' is unknown"):
        synthetic_candles(timeframe="2m")
    with pytest.raises(ValueError, match="days=0 must be > 0"):
        synthetic_candles(days=0)


def test_freq_is_the_pandas_spelling_of_the_timeframe():
    assert synthetic_candles(days=1, freq="1min").equals(synthetic_candles(days=1))
    assert synthetic_candles(days=2, freq="1h").equals(synthetic_candles(days=2, timeframe="1h"))
    with pytest.raises(ValueError, match=r"freq='7min' \(7 minutes\) is not a platform timeframe"):
        synthetic_candles(days=1, freq="7min")
    with pytest.raises(ValueError, match="freq='minutely' is not a pandas frequency"):
        synthetic_candles(days=1, freq="minutely")
