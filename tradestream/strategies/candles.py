"""The candle frame every strategy reads, and its validation.

A candle frame has a UTC ``DatetimeIndex`` of window starts (sorted, unique) and float
columns ``open, high, low, close, volume``; ``vwap`` and ``trade_count`` are optional.
Broken frames are rejected with an error naming the column, row and value, because a
strategy fed NaN or unsorted bars would quietly produce no signals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradestream.candle_columns import OHLCV_COLUMNS, STRATEGY_INPUT_COLUMNS


def validate_candles(candles: object, *, owner: str = "") -> pd.DataFrame:
    """Return ``candles`` as a clean float frame, or raise ValueError saying what is wrong.

    A frame of the wrong kind (not a DataFrame, no DatetimeIndex) raises TypeError.

    The returned frame holds only the candle columns (required plus the optional ones that
    are present), as float64, with a UTC index. A tz-aware index in another zone is
    converted to UTC; a naive index is refused because its zone is unknown.
    """
    where = f"{owner}: " if owner else ""
    if not isinstance(candles, pd.DataFrame):
        raise TypeError(f"{where}candles must be a pandas DataFrame, got {type(candles).__name__}")
    if candles.empty:
        raise ValueError(f"{where}candle frame is empty; pass at least one candle")
    missing = [c for c in OHLCV_COLUMNS if c not in candles.columns]
    if missing:
        raise ValueError(f"{where}candle frame is missing column(s) {missing}; "
                         f"it needs {list(OHLCV_COLUMNS)} (got {list(candles.columns)})")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError(f"{where}candle frame index must be a DatetimeIndex of window starts, "
                         f"got {type(index).__name__}")
    if index.tz is None:
        raise ValueError(f"{where}candle frame index is timezone-naive; "
                         "localize it with frame.tz_localize('UTC')")
    if str(index.tz) != "UTC":
        index = index.tz_convert("UTC")
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise ValueError(f"{where}candle frame has duplicate window_start {dup.isoformat()}; "
                         "keep one candle per window")
    if not index.is_monotonic_increasing:
        pos = int(np.flatnonzero(np.diff(index.asi8) < 0)[0])
        raise ValueError(f"{where}candle frame is not sorted by time: {index[pos + 1].isoformat()} "
                         f"comes after {index[pos].isoformat()}; sort it with frame.sort_index()")

    columns = [c for c in STRATEGY_INPUT_COLUMNS if c in candles.columns]
    data: dict[str, np.ndarray] = {}
    for name in columns:
        column = candles[name]
        try:
            data[name] = column.to_numpy(dtype="float64")
        except (TypeError, ValueError):
            raise ValueError(f"{where}candle column {name!r} is not numeric (dtype {column.dtype})") from None
    check_candle_values(data, index, owner=owner)
    return pd.DataFrame(data, index=index)


def check_candle_values(data: dict[str, np.ndarray], index: pd.DatetimeIndex, *, owner: str = "") -> None:
    """The value rules of a candle: finite, prices > 0, volume >= 0, low <= open, close <= high.

    Shared by ``validate_candles`` and the live evaluator's per-candle check, which skips
    building a DataFrame for one row.
    """
    where = f"{owner}: " if owner else ""
    for name, values in data.items():
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{where}candle column {name!r} has {int(bad.sum())} NaN/inf value(s), "
                             f"first at {index[first].isoformat()} ({values[first]}); "
                             "fill or drop those candles")

    _check_positive(data, ("open", "high", "low", "close"), index, where, strict=True)
    _check_positive(data, ("volume",), index, where, strict=False)
    _check_ordered(data["low"], data["high"], "low", "high", index, where)
    for name in ("open", "close"):
        _check_ordered(data["low"], data[name], "low", name, index, where)
        _check_ordered(data[name], data["high"], name, "high", index, where)


def _check_positive(data: dict[str, np.ndarray], names: tuple[str, ...], index: pd.DatetimeIndex,
                    where: str, *, strict: bool) -> None:
    for name in names:
        values = data[name]
        bad = values <= 0 if strict else values < 0
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            need = "> 0" if strict else ">= 0"
            raise ValueError(f"{where}candle column {name!r} must be {need}, "
                             f"got {values[first]} at {index[first].isoformat()}")


def _check_ordered(lower: np.ndarray, upper: np.ndarray, lower_name: str, upper_name: str,
                   index: pd.DatetimeIndex, where: str) -> None:
    bad = lower > upper
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}candle at {index[first].isoformat()} has {lower_name}={lower[first]} "
                         f"above {upper_name}={upper[first]}; the candle is inconsistent")
