"""Indicators whose pandas-ta loop we compile or vectorize give pandas-ta's values bit for bit.

``indicators._kama`` runs pandas-ta's KAMA recursion in numba and ``rolling_mad`` replaces
pandas-ta's per-window ``rolling.apply`` for CCI. Both exist only for speed (the live
engine evaluates them on every candle), so they must not change a single float.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pandas_ta as ta
import pytest

from tradestream.strategies.indicators import _kama, get_indicator, rolling_mad


@pytest.fixture(scope="module")
def closes(month: pd.DataFrame) -> pd.Series:
    return month["close"].iloc[:20_000]


@pytest.mark.parametrize(("length", "fast", "slow"), [(10, 2, 30), (10, 2, 20), (5, 3, 50), (30, 2, 30)])
def test_kama_equals_pandas_ta_bit_for_bit(closes: pd.Series, length: int, fast: int, slow: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ta.kama(closes, length=length, fast=fast, slow=slow)
    got = _kama(closes, length=length, fast=fast, slow=slow)
    assert got.name == expected.name
    assert got.index.equals(expected.index)
    assert np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True)


def test_kama_of_a_frame_shorter_than_its_periods_is_none_like_pandas_ta(closes: pd.Series) -> None:
    assert ta.kama(closes.iloc[:20], length=10, fast=2, slow=30) is None
    assert _kama(closes.iloc[:20], length=10, fast=2, slow=30) is None


def test_the_registry_computes_kama_with_the_compiled_recursion() -> None:
    assert get_indicator("kama").func is _kama


@pytest.mark.parametrize("length", [5, 14, 20, 37, 100])
def test_rolling_mad_equals_pandas_ta_mad_bit_for_bit(month: pd.DataFrame, length: int) -> None:
    tp = ta.hlc3(month["high"], month["low"], month["close"]).iloc[:20_000]
    expected = ta.mad(tp, length=length)
    got = rolling_mad(tp, length)
    assert np.array_equal(got.to_numpy(), expected.to_numpy(), equal_nan=True)
    assert got.name == expected.name


def test_rolling_mad_of_a_series_shorter_than_its_window_is_all_nan() -> None:
    got = rolling_mad(pd.Series([1.0, 2.0, 3.0]), 5)
    assert got.isna().all() and len(got) == 3
