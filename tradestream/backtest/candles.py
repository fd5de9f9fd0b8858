"""Candles for backtests: checking a frame, and loading one from DuckDB, Parquet or CSV.

A candle frame has a sorted, unique, UTC ``DatetimeIndex`` (the window start) and float
columns open, high, low, close (volume too when present). Broken input raises
``BacktestInputError`` naming the bad value; nothing is repaired silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tradestream import store
from tradestream.backtest.errors import BacktestInputError
from tradestream.candle_columns import OHLCV_COLUMNS, OPTIONAL_STRATEGY_COLUMNS, PRICE_COLUMNS
from tradestream.timeframes import (
    MINUTES_PER_DAY,
    TIMEFRAMES,
    Timeframe,
    UnknownTimeframeError,
    parse_timeframe,
    timeframe_of_duration,
)

TIME_COLUMNS: tuple[str, ...] = ("window_start", "timestamp", "time", "datetime", "date")
DUCKDB_SUFFIXES = (".duckdb", ".db", ".ddb")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class TimeRange:
    """A half-open UTC interval [start, end)."""

    start: pd.Timestamp
    end: pd.Timestamp

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def parse_time(value: str | pd.Timestamp, name: str = "time") -> pd.Timestamp:
    """A UTC timestamp from an ISO string or timestamp; naive values are taken as UTC."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise BacktestInputError(
            f"{name}={value!r} is not a date or time; use ISO 8601 such as 2024-01-31 or 2024-01-31T12:00Z"
        ) from None
    if stamp is pd.NaT:
        raise BacktestInputError(f"{name}={value!r} is not a date or time; use ISO 8601 such as 2024-01-31")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def parse_range(start: str | pd.Timestamp, end: str | pd.Timestamp) -> TimeRange:
    """[start, end) in UTC. A date-only end ("2024-01-31") includes that whole day."""
    begin = parse_time(start, "from")
    stop = parse_time(end, "to")
    if isinstance(end, str) and _DATE_ONLY.match(end.strip()):
        stop = stop + pd.Timedelta(days=1)
    if begin >= stop:
        raise BacktestInputError(f"date range from={start!r} to={end!r} is empty; 'from' must come before 'to'")
    return TimeRange(begin, stop)


def validate_candles(candles: pd.DataFrame, timeframe: str | None = None, *,
                     allow_gaps: bool = False) -> tuple[pd.DataFrame, str]:
    """Check a candle frame; return it (UTC, float columns) with its timeframe.

    Raises on a non-frame, missing columns, no rows, a naive or non-time index, unsorted
    or duplicate times, NaN/inf or non-positive prices, inconsistent high/low, and (unless
    ``allow_gaps``) missing bars between the first and the last candle.
    """
    if not isinstance(candles, pd.DataFrame):
        raise BacktestInputError(f"candles must be a pandas DataFrame, got {type(candles).__name__}")
    missing = [c for c in PRICE_COLUMNS if c not in candles.columns]
    if missing:
        raise BacktestInputError(
            f"candles lack column(s) {missing}; they need {list(OHLCV_COLUMNS)} (got {list(candles.columns)})")
    if candles.empty:
        raise BacktestInputError("candles are empty: no rows to backtest; check the pair, timeframe and date range")
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise BacktestInputError(
            f"candles need a DatetimeIndex of window starts, got {type(index).__name__}; "
            "use df.set_index('window_start')")
    if index.tz is None:
        raise BacktestInputError("candle times have no time zone; they are UTC: use df.tz_localize('UTC')")
    if not index.is_monotonic_increasing:
        position = int(np.flatnonzero(np.diff(index.asi8) < 0)[0]) + 1
        raise BacktestInputError(
            f"candles are not sorted by time: {index[position]} (row {position}) comes after {index[position - 1]}; "
            "sort them with df.sort_index()")
    if index.has_duplicates:
        duplicate = index[index.duplicated()][0]
        raise BacktestInputError(f"candles have more than one row at {duplicate}; keep one candle per window")
    if str(index.tz) != "UTC":
        candles = candles.tz_convert("UTC")
    if candles.index.unit != "ns":  # DuckDB and Parquet hand back microseconds; spacing checks count nanoseconds
        candles = candles.set_axis(candles.index.as_unit("ns"), axis=0)
    columns = [c for c in OHLCV_COLUMNS if c in candles.columns]
    if any(candles[c].dtype != np.float64 for c in columns):
        try:
            candles = candles.astype({c: np.float64 for c in columns})
        except (ValueError, TypeError) as exc:
            raise BacktestInputError(f"candle columns {columns} must be numeric: {exc}") from None
    for column in columns:
        values = candles[column].to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise BacktestInputError(
                f"candles have {int(bad.sum())} NaN/inf value(s) in {column!r}, first at {candles.index[first]}; "
                "backfill or drop those bars before backtesting")
    for column in PRICE_COLUMNS:
        values = candles[column].to_numpy()
        if (values <= 0).any():
            first = int(np.flatnonzero(values <= 0)[0])
            raise BacktestInputError(
                f"candle {column}={values[first].item()!r} at {candles.index[first]} is not a positive price")
    o, h, lo, c = (candles[col].to_numpy() for col in PRICE_COLUMNS)
    inconsistent = (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo)
    if inconsistent.any():
        first = int(np.flatnonzero(inconsistent)[0])
        raise BacktestInputError(
            f"candle at {candles.index[first]} is inconsistent (open={o[first]}, high={h[first]}, low={lo[first]}, "
            f"close={c[first]}): high must be the largest price and low the smallest")
    if timeframe is None:
        timeframe = infer_timeframe(candles.index)
    step_ns = bar_timeframe(timeframe).ns
    if len(candles) > 1 and not allow_gaps:
        spacing = np.diff(candles.index.asi8)
        wrong = spacing != step_ns
        if wrong.any():
            first = int(np.flatnonzero(wrong)[0])
            before, after = candles.index[first], candles.index[first + 1]
            missing_bars = int(spacing[first] // step_ns) - 1
            what = f"a gap of {missing_bars} missing {timeframe} bar(s)" if spacing[first] > step_ns else (
                f"bars closer than {timeframe}")
            raise BacktestInputError(
                f"candles have {what} between {before} and {after} ({int(wrong.sum())} irregular step(s) in all); "
                "backfill the gap, pick the right timeframe, or allow gaps (allow_gaps=True, --allow-gaps) "
                "to trade across it")
    return candles, timeframe


def bar_timeframe(timeframe: str) -> Timeframe:
    """The platform timeframe named ``timeframe``; a BacktestInputError naming the valid ones otherwise."""
    try:
        return parse_timeframe(timeframe)
    except UnknownTimeframeError as exc:
        raise BacktestInputError(str(exc)) from None


def infer_timeframe(index: pd.DatetimeIndex) -> str:
    """The timeframe of a candle index: the one whose bar length is the index's most common spacing."""
    if len(index) < 2:
        raise BacktestInputError(
            f"cannot infer the timeframe from {len(index)} candle(s); pass the timeframe explicitly")
    spacing = pd.Series(index[1:] - index[:-1]).mode().iloc[0]
    bar = timeframe_of_duration(spacing.value)
    if bar is None:
        longer = " (bars longer than a day are not supported, see tradestream.timeframes)" if (
            spacing > pd.Timedelta(minutes=MINUTES_PER_DAY)) else ""
        raise BacktestInputError(
            f"candles are {spacing} apart, which is not a platform timeframe{longer}; "
            f"backtest candles of one of {list(TIMEFRAMES)}")
    return bar.name


def load_candles(source: str | Path, pair: str, timeframe: str, start: str | pd.Timestamp,
                 end: str | pd.Timestamp) -> pd.DataFrame:
    """Candles of ``pair``/``timeframe`` in [start, end) from a DuckDB file, Parquet or CSV.

    A DuckDB file is opened read-only and its ``candles`` table queried (the newest
    revision of each window wins). A Parquet/CSV file needs a time column (one of
    ``TIME_COLUMNS``) and OHLC columns; ``currency_pair``/``timeframe`` columns, when
    present, are filtered on. Returns an unvalidated frame; ``validate_candles`` checks it.
    """
    path = Path(source).expanduser()
    bar_timeframe(timeframe)
    window = parse_range(start, end)
    if not path.exists():
        raise BacktestInputError(f"candle source {path} does not exist; pass a DuckDB, Parquet or CSV file")
    suffix = path.suffix.lower()
    if suffix in DUCKDB_SUFFIXES:
        try:
            con = store.connect(path, read_only=True)
        except duckdb.Error as exc:
            raise BacktestInputError(f"cannot open {path} as a DuckDB database: {exc}") from None
        try:
            return _query_candles(con, "candles", pair, timeframe, window, source_name=str(path))
        finally:
            con.close()
    if suffix in (".parquet", ".pq"):
        reader = "read_parquet"
    elif suffix in (".csv", ".tsv", ".txt"):
        reader = "read_csv_auto"
    else:
        raise BacktestInputError(
            f"candle source {path} has an unknown type {suffix!r}; use .duckdb, .parquet or .csv")
    con = duckdb.connect()
    try:
        literal = str(path).replace("'", "''")  # views take no prepared parameters
        con.execute(f"CREATE VIEW file_candles AS SELECT * FROM {reader}('{literal}')")
        return _query_candles(con, "file_candles", pair, timeframe, window, source_name=str(path))
    except duckdb.Error as exc:
        raise BacktestInputError(f"cannot read candles from {path}: {exc}") from None
    finally:
        con.close()


def candle_sources(source: str | Path, pair: str, timeframe: str, start: str | pd.Timestamp,
                   end: str | pd.Timestamp) -> pd.DataFrame:
    """Where the candles ``load_candles`` reads came from: one row per run of consecutive bars of one source
    (``stream``, ``batch``, ``history``, ``exchange``) with its first and last window start and bar count.

    The lineage of a backtest or an optimization: which ranges were imported history and which the
    live stream. A Parquet or CSV source is one run of source ``file``.
    """
    path = Path(source).expanduser()
    window = parse_range(start, end)
    columns = ["source", "first", "last", "bars"]
    if path.suffix.lower() not in DUCKDB_SUFFIXES:
        return pd.DataFrame([("file", window.start, window.end, None)], columns=columns)
    con = store.connect(path, read_only=True)
    try:
        return con.execute(
            "SELECT source, min(window_start) AS first, max(window_start) AS last, count(*) AS bars FROM ("
            "  SELECT window_start, source, row_number() OVER (ORDER BY window_start)"
            "    - row_number() OVER (PARTITION BY source ORDER BY window_start) AS run"
            "  FROM candles WHERE currency_pair = ? AND timeframe = ? AND window_start >= ? AND window_start < ?)"
            " GROUP BY source, run ORDER BY first",
            [pair, timeframe, window.start.tz_convert(None).to_pydatetime(),
             window.end.tz_convert(None).to_pydatetime()]).df()[columns]
    finally:
        con.close()


def _query_candles(con: duckdb.DuckDBPyConnection, table: str, pair: str, timeframe: str, window: TimeRange,
                   source_name: str) -> pd.DataFrame:
    tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if table not in tables:
        raise BacktestInputError(
            f"{source_name} has no {table!r} table (tables: {sorted(tables)}); materialize the candles first")
    columns = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
    time_column = next((c for c in TIME_COLUMNS if c in columns), None)
    if time_column is None:
        raise BacktestInputError(f"{source_name} has no time column; expected one of {list(TIME_COLUMNS)}")
    missing = [c for c in PRICE_COLUMNS if c not in columns]
    if missing:
        raise BacktestInputError(f"{source_name} lacks column(s) {missing} (columns: {columns})")
    filters, params = [], []
    if "currency_pair" in columns:
        filters.append("currency_pair = ?")
        params.append(pair)
    if "timeframe" in columns:
        filters.append("timeframe = ?")
        params.append(timeframe)
    key_filter = " AND ".join(filters) or "TRUE"
    volume = "volume" if "volume" in columns else "NULL::DOUBLE AS volume"
    extras = "".join(f", {c}" for c in OPTIONAL_STRATEGY_COLUMNS if c in columns)
    newest = (f"QUALIFY row_number() OVER (PARTITION BY {time_column} ORDER BY revision DESC) = 1"
              if "revision" in columns else "")
    # Timestamps compare as UTC instants; a file with naive times is read as UTC.
    time_expr = (f"timezone('UTC', {time_column}::TIMESTAMPTZ)" if _is_tz(con, table, time_column)
                 else f"{time_column}::TIMESTAMP")
    query = (f"SELECT {time_expr} AS window_start, open, high, low, close, {volume}{extras} FROM {table} "
             f"WHERE {key_filter} AND {time_expr} >= ? AND {time_expr} < ? {newest} ORDER BY window_start")
    start, end = window.start.tz_convert(None).to_pydatetime(), window.end.tz_convert(None).to_pydatetime()
    frame = con.execute(query, [*params, start, end]).df()
    if frame.empty:
        available = con.execute(
            f"SELECT min({time_expr}), max({time_expr}), count(*) FROM {table} WHERE {key_filter}", params).fetchone()
        if not available or not available[2]:
            raise BacktestInputError(
                f"{source_name} holds no {pair} {timeframe} candles at all; check the pair and timeframe "
                "or backfill them")
        raise BacktestInputError(
            f"no {pair} {timeframe} candles in {window} in {source_name}; "
            f"available: {available[0]} to {available[1]} ({available[2]} candles)")
    frame["window_start"] = pd.to_datetime(frame["window_start"]).dt.tz_localize("UTC").dt.as_unit("ns")
    frame = frame.set_index("window_start")
    frame.index.name = "window_start"
    if frame["volume"].isna().all():
        frame = frame.drop(columns="volume")
    if "vwap" in frame.columns and frame["vwap"].isna().any():
        frame = frame.drop(columns="vwap")  # optional: a partly missing vwap would only mislead strategies
    if "trade_count" in frame.columns:
        if frame["trade_count"].isna().any():
            frame = frame.drop(columns="trade_count")
        else:
            frame["trade_count"] = frame["trade_count"].astype("float64")
    return frame


def _is_tz(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    kind = next(row[1] for row in con.execute(f"DESCRIBE {table}").fetchall() if row[0] == column)
    return "TIME ZONE" in str(kind).upper()
