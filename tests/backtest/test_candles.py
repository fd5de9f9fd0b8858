"""Candle input: broken frames and settings are refused by name; loaders read DuckDB, Parquet and CSV."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.backtest.builders import bars, make_candles, random_walk
from tradestream import store
from tradestream.backtest import BacktestConfig, BacktestInputError, load_candles, parse_range, run_backtest
from tradestream.backtest.candles import validate_candles


def _run(candles: pd.DataFrame, **kwargs):
    n = len(candles)
    return run_backtest(candles, np.zeros(n, bool), np.zeros(n, bool), **kwargs)


def test_empty_candles_are_refused() -> None:
    with pytest.raises(BacktestInputError, match="candles are empty"):
        _run(make_candles([]), timeframe="1m")


def test_unsorted_candles_name_the_first_out_of_order_time() -> None:
    candles = make_candles([1, 2, 3, 4]).iloc[[0, 2, 1, 3]]
    with pytest.raises(BacktestInputError, match=r"not sorted by time: 2024-01-01 00:01:00\+00:00 \(row 2\)"):
        _run(candles, timeframe="1m")


def test_duplicate_candle_times_are_refused() -> None:
    candles = make_candles([1, 2, 3]).iloc[[0, 1, 1, 2]]
    with pytest.raises(BacktestInputError, match=r"more than one row at 2024-01-01 00:01:00\+00:00"):
        _run(candles, timeframe="1m")


def test_nan_prices_name_column_count_and_first_time() -> None:
    candles = make_candles([1.0, 2.0, 3.0, 4.0])
    candles.loc[candles.index[2:], "close"] = np.nan
    with pytest.raises(BacktestInputError,
                       match=r"2 NaN/inf value\(s\) in 'close', first at 2024-01-01 00:02:00\+00:00"):
        _run(candles, timeframe="1m")


def test_gaps_are_refused_unless_allowed() -> None:
    candles = make_candles([1, 2, 3, 4, 5]).drop(index=pd.Timestamp("2024-01-01 00:02", tz="UTC"))
    with pytest.raises(BacktestInputError, match=r"a gap of 1 missing 1m bar\(s\) between 2024-01-01 00:01:00"):
        _run(candles, timeframe="1m")
    assert len(_run(candles, timeframe="1m", allow_gaps=True).equity) == 4


def test_wrong_timeframe_reads_as_bars_too_close() -> None:
    with pytest.raises(BacktestInputError, match="bars closer than 5m"):
        _run(make_candles([1, 2, 3]), timeframe="5m")


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.tz_localize(None), r"no time zone; they are UTC: use df.tz_localize\('UTC'\)"),
    (lambda c: c.reset_index(drop=True), "need a DatetimeIndex of window starts, got RangeIndex"),
    (lambda c: c.drop(columns=["low"]), r"lack column\(s\) \['low'\]"),
    (lambda c: c.assign(close=-c["close"]), r"candle close=-1.0 at 2024-01-01 00:00:00\+00:00 is not a positive"),
    (lambda c: c.assign(high=c["low"] * 0.5), "is inconsistent .* high must be the largest price"),
])
def test_malformed_frames_are_refused_with_a_hint(change, message: str) -> None:
    with pytest.raises(BacktestInputError, match=message):
        _run(change(make_candles([1.0, 2.0, 3.0])), timeframe="1m")


def test_timeframe_is_inferred_from_the_spacing() -> None:
    assert validate_candles(make_candles([1, 2, 3], timeframe="1h"))[1] == "1h"
    assert validate_candles(make_candles([1, 2, 3], timeframe="1d"))[1] == "1d"
    with pytest.raises(BacktestInputError, match="timeframe '7x' is unknown"):
        validate_candles(make_candles([1, 2, 3]), "7x")


@pytest.mark.parametrize(("settings", "message"), [
    (dict(fees=0.5), r"fees=0.5 is outside \[0, 0.1\]; fees are a fraction per side"),
    (dict(fees=-0.001), r"fees=-0.001 is outside \[0, 0.1\]"),
    (dict(fees=float("nan")), "fees=nan must be a finite number"),
    (dict(slippage_bps=5000), r"slippage_bps=5000 is outside \[0, 1000\] basis points"),
    (dict(size=0), r"size=0 is outside \(0, 1\]"),
    (dict(size=1.5), r"size=1.5 is outside \(0, 1\]"),
    (dict(cash=0), "cash=0 must be positive"),
    (dict(stop_loss=1.2), r"stop_loss=1.2 is outside \(0, 1\)"),
    (dict(trailing_stop=0), r"trailing_stop=0 is outside \(0, 1\)"),
    (dict(take_profit=-0.1), r"take_profit=-0.1 is outside \(0, inf\)"),
    (dict(fill="open"), r"fill='open' must be one of \['close', 'next_open'\]"),
])
def test_trading_settings_out_of_range_name_the_value(settings: dict, message: str) -> None:
    with pytest.raises(BacktestInputError, match=message):
        BacktestConfig(**settings)


def test_parse_range_reads_a_date_only_end_as_the_whole_day() -> None:
    window = parse_range("2024-01-01", "2024-01-31")
    assert window.start == pd.Timestamp("2024-01-01", tz="UTC")
    assert window.end == pd.Timestamp("2024-02-01", tz="UTC")
    assert parse_range("2024-01-01", "2024-01-31T12:00").end == pd.Timestamp("2024-01-31 12:00", tz="UTC")
    with pytest.raises(BacktestInputError, match="'from' must come before 'to'"):
        parse_range("2024-02-01", "2024-01-01")
    with pytest.raises(BacktestInputError, match="from='yesterday' is not a date or time"):
        parse_range("yesterday", "2024-01-01")


def _store_with_candles(path: Path, candles: pd.DataFrame, pair: str = "BTC-USD", timeframe: str = "1m") -> None:
    """The platform's own store, written through its own upsert (the schema the loader must read)."""
    rows = pd.DataFrame({
        "currency_pair": pair, "timeframe": timeframe,
        "window_start": candles.index.tz_localize(None), "window_end": (candles.index + pd.Timedelta("1min")
                                                                       ).tz_localize(None),
        "open": candles["open"], "high": candles["high"], "low": candles["low"], "close": candles["close"],
        "volume": candles["volume"], "vwap": candles["close"], "trade_count": 3, "filled": False, "revision": 0,
        "emitted_at": candles.index.tz_localize(None), "source": "batch",
    }).reset_index(drop=True)
    with store.writer(path) as con:
        store.upsert_candles(con, rows[list(store.CANDLE_TABLE_COLUMNS)])


def test_load_candles_selects_pair_timeframe_and_range_from_the_duckdb_store(tmp_path: Path) -> None:
    candles = random_walk(300, seed=1)
    path = tmp_path / "tradestream.duckdb"
    _store_with_candles(path, candles)
    _store_with_candles(path, random_walk(300, seed=2), pair="ETH-USD")
    loaded = load_candles(path, "BTC-USD", "1m", "2024-01-01T01:00", "2024-01-01T02:00")
    assert len(loaded) == 60
    assert loaded.index[0] == pd.Timestamp("2024-01-01 01:00", tz="UTC")
    assert loaded["close"].to_numpy() == pytest.approx(candles["close"].iloc[60:120].to_numpy())
    assert {"vwap", "trade_count"} <= set(loaded.columns)
    run = run_backtest(loaded, bars(60, 1), bars(60, 30))
    assert run.timeframe == "1m" and run.metrics.number_of_trades == 1


def test_a_range_without_candles_says_what_is_available(tmp_path: Path) -> None:
    path = tmp_path / "tradestream.duckdb"
    _store_with_candles(path, random_walk(300, seed=1))
    with pytest.raises(BacktestInputError, match=r"no BTC-USD 1m candles in \[2025-01-01.*available: 2024-01-01 00:00"):
        load_candles(path, "BTC-USD", "1m", "2025-01-01", "2025-01-02")
    with pytest.raises(BacktestInputError, match="holds no SOL-USD 1m candles at all"):
        load_candles(path, "SOL-USD", "1m", "2024-01-01", "2024-01-02")
    with pytest.raises(BacktestInputError, match="does not exist"):
        load_candles(tmp_path / "missing.duckdb", "BTC-USD", "1m", "2024-01-01", "2024-01-02")


def test_a_duckdb_file_without_candles_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    with pytest.raises(BacktestInputError, match="has no 'candles' table"):
        load_candles(path, "BTC-USD", "1m", "2024-01-01", "2024-01-02")


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_load_candles_reads_parquet_and_csv_files(tmp_path: Path, suffix: str) -> None:
    candles = random_walk(180, seed=3)
    frame = candles.rename_axis("timestamp").reset_index()
    path = tmp_path / f"candles.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    loaded = load_candles(path, "ANY-PAIR", "1m", "2024-01-01T00:30", "2024-01-01T01:30")
    assert len(loaded) == 60 and loaded.index.tz is not None
    assert loaded["close"].to_numpy() == pytest.approx(candles["close"].iloc[30:90].to_numpy())
    validate_candles(loaded, "1m")
