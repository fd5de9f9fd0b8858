"""The DuckDB research store: schema, idempotent upserts, read-only readers.

One DuckDB file (``Settings.duckdb_path``, by default ``.tradestream/tradestream.duckdb``)
holds what the platform keeps for research:

* ``trades``  - one row per (exchange, currency_pair, trade_id); a trade seen twice is one row.
  ``source`` says where the row came from first: ``stream`` (Kafka ``trades``), ``repair``
  (a trade the live stream missed, fetched over REST and published marked ``repaired``) or
  ``history`` (a REST history import, ``tradestream.history``).
* ``candles`` - one row per (currency_pair, timeframe, window_start); the highest
  ``revision`` wins, so a late-data update replaces the first emission and an old
  emission never replaces a newer one.
* ``signals`` - one row per (strategy, params, currency_pair, timeframe, candle_time).

Every write is an upsert on those keys, so writing the same records twice leaves the
same rows: materializing a partition twice is harmless.

Time columns hold UTC as naive timestamps (trade times to the nanosecond, ``TIMESTAMP_NS``,
because the candle rules order trades by them). Candles and signals carry the
close of their bar (``window_end`` / ``candle_close``): an hourly partition holds the
bars that *close* within its hour, which for 1m..1h bars is the hour they start in and
for 4h and 1d bars the last hour of the bar (they only exist once they closed).

DuckDB allows one read-write connection per file across processes, and no readers
while it is held. Writers therefore keep their connection short, readers open
read-only, and both wait a bounded time for the lock instead of failing at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd

from tradestream.backoff import Backoff
from tradestream.params import params_from_proto, params_key
from tradestream.timeframes import NS_PER_SECOND, parse_timeframe
from tradestream.v1 import market_pb2, strategy_pb2

LOCK_TIMEOUT_S = 60.0

TRADES_KEY: tuple[str, ...] = ("exchange", "currency_pair", "trade_id")
CANDLES_KEY: tuple[str, ...] = ("currency_pair", "timeframe", "window_start")
SIGNALS_KEY: tuple[str, ...] = ("strategy", "params", "currency_pair", "timeframe", "candle_time")



class TradeRow(NamedTuple):
    """A row of ``trades``."""

    exchange: str
    currency_pair: str
    trade_id: str
    price: float
    size: float
    taker_side: str | None           # "buy", "sell" or None when the exchange did not say
    event_time: pd.Timestamp         # naive UTC, to the nanosecond
    ingest_time: pd.Timestamp | None
    source: str = "stream"           # "stream", "repair" or "history": where the row came from


class CandleRow(NamedTuple):
    """A row of ``candles``."""

    currency_pair: str
    timeframe: str
    window_start: datetime           # naive UTC
    window_end: datetime             # naive UTC: the close of the bar
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    trade_count: int
    filled: bool
    revision: int
    emitted_at: datetime | None
    source: str


class SignalRow(NamedTuple):
    """A row of ``signals``."""

    strategy: str
    params: str                      # params_key of the parameter values
    currency_pair: str
    timeframe: str
    candle_time: datetime            # naive UTC window start of the candle that triggered it
    candle_close: datetime
    signal_type: str
    price: float
    reason: str
    emitted_at: datetime | None
    signal_id: str


TRADE_TABLE_COLUMNS: tuple[str, ...] = TradeRow._fields
CANDLE_TABLE_COLUMNS: tuple[str, ...] = CandleRow._fields
SIGNAL_TABLE_COLUMNS: tuple[str, ...] = SignalRow._fields

SCHEMA: dict[str, str] = {
    "trades": """
        CREATE TABLE IF NOT EXISTS trades (
            exchange      VARCHAR   NOT NULL,
            currency_pair VARCHAR   NOT NULL,
            trade_id      VARCHAR   NOT NULL,
            price         DOUBLE    NOT NULL,
            size          DOUBLE    NOT NULL,
            taker_side    VARCHAR,
            event_time    TIMESTAMP_NS NOT NULL,   -- nanoseconds: the candle rules order trades by it
            ingest_time   TIMESTAMP_NS,
            source        VARCHAR   NOT NULL DEFAULT 'stream',  -- 'stream', 'repair' or 'history'
            PRIMARY KEY (exchange, currency_pair, trade_id)
        )""",
    "candles": """
        CREATE TABLE IF NOT EXISTS candles (
            currency_pair VARCHAR   NOT NULL,
            timeframe     VARCHAR   NOT NULL,
            window_start  TIMESTAMP NOT NULL,
            window_end    TIMESTAMP NOT NULL,
            open          DOUBLE    NOT NULL,
            high          DOUBLE    NOT NULL,
            low           DOUBLE    NOT NULL,
            close         DOUBLE    NOT NULL,
            volume        DOUBLE    NOT NULL,
            vwap          DOUBLE,
            trade_count   BIGINT,
            filled        BOOLEAN,
            revision      INTEGER   NOT NULL,
            emitted_at    TIMESTAMP,
            -- 'stream' (Kafka candles), 'batch' (rebuilt from trades), 'history' (folded from imported
            -- trades) or 'exchange' (the venue's own candles, imported where only bars were wanted)
            source        VARCHAR   NOT NULL,
            PRIMARY KEY (currency_pair, timeframe, window_start)
        )""",
    "signals": """
        CREATE TABLE IF NOT EXISTS signals (
            strategy      VARCHAR   NOT NULL,
            params        VARCHAR   NOT NULL,   -- canonical JSON of the parameter values
            currency_pair VARCHAR   NOT NULL,
            timeframe     VARCHAR   NOT NULL,
            candle_time   TIMESTAMP NOT NULL,   -- window_start of the candle that triggered it
            candle_close  TIMESTAMP NOT NULL,
            signal_type   VARCHAR   NOT NULL,
            price         DOUBLE,
            reason        VARCHAR,
            emitted_at    TIMESTAMP,
            signal_id     VARCHAR,
            PRIMARY KEY (strategy, params, currency_pair, timeframe, candle_time)
        )""",
    # REST history imports (tradestream/history/catalog.py): what was fetched, which days are done,
    # which ids the venue did not have. Ids are the venue's sequential trade ids.
    "history_coverage": """
        CREATE TABLE IF NOT EXISTS history_coverage (
            exchange      VARCHAR   NOT NULL,
            currency_pair VARCHAR   NOT NULL,
            first_id      BIGINT    NOT NULL,   -- every id in [first_id, last_id] was fetched: its trade is
            last_id       BIGINT    NOT NULL,   -- in `trades`, or the id is listed in history_gaps
            updated_at    TIMESTAMP NOT NULL,
            PRIMARY KEY (exchange, currency_pair, first_id)
        )""",
    "history_days": """
        CREATE TABLE IF NOT EXISTS history_days (
            exchange      VARCHAR   NOT NULL,
            currency_pair VARCHAR   NOT NULL,
            day           DATE      NOT NULL,   -- UTC
            covered_to    TIMESTAMP NOT NULL,   -- [day, covered_to) was imported whole: the next day's
                                                -- midnight once the day is over
            first_id      BIGINT,               -- first and last trade of the day (NULL: no trade)
            last_id       BIGINT,
            trades        BIGINT    NOT NULL,
            missing_ids   BIGINT    NOT NULL,   -- ids in [first_id, last_id] the venue did not return
            candles       BIGINT    NOT NULL,   -- candle rows of all timeframes folded from the day
            imported_at   TIMESTAMP NOT NULL,
            PRIMARY KEY (exchange, currency_pair, day)
        )""",
    "history_gaps": """
        CREATE TABLE IF NOT EXISTS history_gaps (
            exchange      VARCHAR   NOT NULL,
            currency_pair VARCHAR   NOT NULL,
            first_id      BIGINT    NOT NULL,   -- a run of ids the venue did not return, asked twice
            last_id       BIGINT    NOT NULL,
            after_time    TIMESTAMP_NS,         -- event times of the trades just before and after the run
            before_time   TIMESTAMP_NS,
            found_at      TIMESTAMP NOT NULL,
            PRIMARY KEY (exchange, currency_pair, first_id)
        )""",
    "history_bar_days": """
        CREATE TABLE IF NOT EXISTS history_bar_days (
            exchange      VARCHAR   NOT NULL,
            currency_pair VARCHAR   NOT NULL,
            timeframe     VARCHAR   NOT NULL,
            day           DATE      NOT NULL,   -- the venue's own bars of this UTC day were fetched
            covered_to    TIMESTAMP NOT NULL,   -- up to here (the next midnight once the day is over)
            bars          BIGINT    NOT NULL,
            imported_at   TIMESTAMP NOT NULL,
            PRIMARY KEY (exchange, currency_pair, timeframe, day)
        )""",
}
#: Columns added after a table's first release, for store files created before them.
SCHEMA_ADDITIONS: tuple[str, ...] = (
    "ALTER TABLE trades ADD COLUMN IF NOT EXISTS source VARCHAR DEFAULT 'stream'",
)
TABLES: tuple[str, ...] = tuple(SCHEMA)


class StoreLockedError(RuntimeError):
    """Another process holds the DuckDB file's write lock longer than we are willing to wait."""


@dataclass(frozen=True)
class UpsertResult:
    table: str
    rows_in: int        # rows offered (after collapsing duplicates within the batch)
    rows_new: int       # keys that were not in the table before
    rows_updated: int   # existing keys whose values changed (candles: a higher revision)

    @property
    def rows_unchanged(self) -> int:
        return self.rows_in - self.rows_new - self.rows_updated


# --------------------------------------------------------------------------- connections


def connect(path: str | Path, *, read_only: bool = False,
            lock_timeout_s: float = LOCK_TIMEOUT_S) -> duckdb.DuckDBPyConnection:
    """Open the store, waiting up to ``lock_timeout_s`` while another process holds its lock.

    A read-only connection to a file that does not exist yet raises FileNotFoundError
    naming the file (nothing was materialized there yet).
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"DuckDB store {path} does not exist yet; materialize trades or candles first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout_s
    backoff = Backoff(base_s=0.05, max_s=1.0)
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"DuckDB store {path} stayed locked by another process for {lock_timeout_s:.0f} s "
                    f"({exc}); wait for the running writer to finish") from None
            time.sleep(backoff.next_delay())
            continue
        if not read_only:
            ensure_schema(con)
        return con


@contextmanager
def writer(path: str | Path, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-write connection with the schema in place."""
    con = connect(path, read_only=False, lock_timeout_s=lock_timeout_s)
    try:
        yield con
    finally:
        con.close()


@contextmanager
def reader(path: str | Path, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection; several processes may hold one at the same time."""
    con = connect(path, read_only=True, lock_timeout_s=lock_timeout_s)
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in (*SCHEMA.values(), *SCHEMA_ADDITIONS):
        con.execute(ddl)


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                            [table]).fetchone()[0])


# --------------------------------------------------------------------------- protobuf -> rows


def utc_naive(value: datetime | pd.Timestamp) -> datetime:
    """A UTC instant as the naive datetime the store's TIMESTAMP columns hold."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        return stamp.to_pydatetime()
    return stamp.tz_convert("UTC").tz_localize(None).to_pydatetime()


def _ts(message) -> datetime | None:
    """A protobuf Timestamp as a naive UTC datetime, to the microsecond (None when unset)."""
    if message.seconds == 0 and message.nanos == 0:
        return None
    return datetime.fromtimestamp(message.seconds, UTC).replace(tzinfo=None, microsecond=message.nanos // 1000)


def _ts_ns(message) -> pd.Timestamp | None:
    """A protobuf Timestamp as a naive UTC pandas Timestamp keeping its nanoseconds (None when unset)."""
    if message.seconds == 0 and message.nanos == 0:
        return None
    return pd.Timestamp(message.seconds * NS_PER_SECOND + message.nanos, unit="ns")


#: How the ``trades`` table spells a taker side (NULL when the exchange did not say).
TAKER_SIDE_NAMES: dict[int, str] = {market_pb2.TAKER_SIDE_BUY: "buy", market_pb2.TAKER_SIDE_SELL: "sell"}
_SIGNAL_TYPES = {value: name.removeprefix("SIGNAL_TYPE_") for name, value in strategy_pb2.SignalType.items()}


def trade_row(trade: market_pb2.Trade) -> TradeRow:
    """A ``trades`` row from a Trade; raises ValueError when a required field is missing."""
    event_time = _ts_ns(trade.event_time)
    if not trade.currency_pair or not trade.trade_id or event_time is None:
        raise ValueError(f"trade lacks currency_pair, trade_id or event_time: {trade}")
    return TradeRow(trade.exchange, trade.currency_pair, trade.trade_id, trade.price, trade.size,
                    TAKER_SIDE_NAMES.get(trade.taker_side), event_time, _ts_ns(trade.ingest_time),
                    "repair" if trade.repaired else "stream")


def candle_row(candle: market_pb2.Candle, source: str = "stream") -> CandleRow:
    """A ``candles`` row from a Candle; raises ValueError when a required field is missing."""
    start, end = _ts(candle.window_start), _ts(candle.window_end)
    if not candle.currency_pair or not candle.timeframe or start is None:
        raise ValueError(f"candle lacks currency_pair, timeframe or window_start: {candle}")
    if end is None:
        end = start + parse_timeframe(candle.timeframe).timedelta
    return CandleRow(candle.currency_pair, candle.timeframe, start, end, candle.open, candle.high, candle.low,
                     candle.close, candle.volume, candle.vwap, candle.trade_count, candle.filled, candle.revision,
                     _ts(candle.emitted_at), source)


def signal_row(signal: strategy_pb2.Signal) -> SignalRow:
    """A ``signals`` row from a Signal; raises ValueError when a required field is missing."""
    candle_time = _ts(signal.candle_time)
    if not signal.strategy.strategy or not signal.currency_pair or not signal.timeframe or candle_time is None:
        raise ValueError(f"signal lacks strategy, currency_pair, timeframe or candle_time: {signal}")
    close = candle_time + parse_timeframe(signal.timeframe).timedelta
    return SignalRow(signal.strategy.strategy, params_key(params_from_proto(signal.strategy)), signal.currency_pair,
                     signal.timeframe, candle_time, close, _SIGNAL_TYPES.get(signal.type, str(signal.type)),
                     signal.price, signal.reason, _ts(signal.emitted_at), signal.signal_id)


def frame(rows: Iterable[tuple], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=list(columns))


# --------------------------------------------------------------------------- upserts


def _upsert(con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, columns: Sequence[str],
            key: Sequence[str], prefer_order: str, replace_when: str | None = None,
            transaction: bool = True) -> UpsertResult:
    """Insert new keys; for existing keys replace the row only when ``replace_when`` holds.

    ``replace_when`` compares the offered row ``{new}`` with the stored one ``{old}``,
    e.g. ``"{new}.revision > {old}.revision"``; None keeps stored rows as they are.
    ``transaction=False``: the caller holds a transaction that this write joins.
    """
    missing = [c for c in columns if c not in rows.columns]
    if missing:
        raise ValueError(f"rows for {table} lack column(s) {missing}; expected {list(columns)}")
    if rows.empty:
        return UpsertResult(table, 0, 0, 0)
    batch = rows[list(columns)]
    keys = ", ".join(key)
    cols = ", ".join(columns)
    # ON CONFLICT may not touch one key twice in one statement: keep one row per key (the preferred one).
    con.register("_upsert_batch", batch)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _upsert_rows AS SELECT {cols} FROM _upsert_batch "
                    f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {prefer_order}) = 1")
    finally:
        con.unregister("_upsert_batch")
    join = " AND ".join(f"t.{k} = n.{k}" for k in key)
    rows_in, rows_new = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE t.{key[0]} IS NULL) FROM _upsert_rows n "
        f"LEFT JOIN {table} t ON {join}").fetchone()
    rows_updated = 0
    if replace_when:
        rows_updated = con.execute(f"SELECT count(*) FROM _upsert_rows n JOIN {table} t ON {join} "
                                   f"WHERE {replace_when.format(new='n', old='t')}").fetchone()[0]
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
        conflict = f"DO UPDATE SET {updates} WHERE {replace_when.format(new='excluded', old=table)}"
    else:
        conflict = "DO NOTHING"
    insert = f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _upsert_rows ON CONFLICT ({keys}) {conflict}"
    if not transaction:
        try:
            con.execute(insert)
        finally:
            con.execute("DROP TABLE IF EXISTS _upsert_rows")
        return UpsertResult(table, int(rows_in), int(rows_new), int(rows_updated))
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(insert)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS _upsert_rows")
    return UpsertResult(table, int(rows_in), int(rows_new), int(rows_updated))


def upsert_trades(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> UpsertResult:
    """Insert trades not seen before; a trade already stored stays as it is (trades never change)."""
    return _upsert(con, "trades", rows, TRADE_TABLE_COLUMNS, TRADES_KEY, prefer_order="ingest_time NULLS LAST")


def upsert_candles(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, *,
                   replace_when: str = "{new}.revision > {old}.revision", transaction: bool = True) -> UpsertResult:
    """Upsert candles keeping the highest revision per (pair, timeframe, window_start).

    History imports pass their own ``replace_when`` (``tradestream.history.catalog``).
    """
    return _upsert(con, "candles", rows, CANDLE_TABLE_COLUMNS, CANDLES_KEY,
                   prefer_order="revision DESC, emitted_at DESC NULLS LAST", replace_when=replace_when,
                   transaction=transaction)


def upsert_signals(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> UpsertResult:
    """Upsert signals on (strategy, params, pair, timeframe, candle_time); a signal is emitted once."""
    return _upsert(con, "signals", rows, SIGNAL_TABLE_COLUMNS, SIGNALS_KEY, prefer_order="emitted_at NULLS LAST")


# --------------------------------------------------------------------------- readers


def _in(column: str, values: Sequence[str] | None, params: list) -> str:
    if not values:
        return ""
    params.extend(values)
    return f" AND {column} IN ({', '.join('?' for _ in values)})"


def query_trades(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime,
                 pairs: Sequence[str] | None = None) -> pd.DataFrame:
    """Trades with ``start <= event_time < end``, ordered by pair and time."""
    params: list = [utc_naive(start), utc_naive(end)]
    where = _in("currency_pair", pairs, params)
    return con.execute(f"SELECT * FROM trades WHERE event_time >= ? AND event_time < ?{where} "
                       "ORDER BY currency_pair, event_time, trade_id", params).df()


def query_candles(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime,
                  timeframes: Sequence[str] | None = None, pairs: Sequence[str] | None = None) -> pd.DataFrame:
    """Candles that close in ``(start, end]`` (an hourly partition's bars), ordered by key."""
    params: list = [utc_naive(start), utc_naive(end)]
    where = _in("timeframe", timeframes, params) + _in("currency_pair", pairs, params)
    return con.execute(f"SELECT * FROM candles WHERE window_end > ? AND window_end <= ?{where} "
                       "ORDER BY currency_pair, timeframe, window_start", params).df()


def query_signals(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime,
                  pairs: Sequence[str] | None = None) -> pd.DataFrame:
    """Signals whose candle closes in ``(start, end]``, ordered by key."""
    params: list = [utc_naive(start), utc_naive(end)]
    where = _in("currency_pair", pairs, params)
    return con.execute(f"SELECT * FROM signals WHERE candle_close > ? AND candle_close <= ?{where} "
                       "ORDER BY strategy, params, currency_pair, timeframe, candle_time", params).df()


def read_trades(path: str | Path, start: datetime, end: datetime,
                pairs: Sequence[str] | None = None) -> pd.DataFrame:
    with reader(path) as con:
        return query_trades(con, start, end, pairs)


def read_candles(path: str | Path, start: datetime, end: datetime, timeframes: Sequence[str] | None = None,
                 pairs: Sequence[str] | None = None) -> pd.DataFrame:
    with reader(path) as con:
        return query_candles(con, start, end, timeframes, pairs)


def read_signals(path: str | Path, start: datetime, end: datetime,
                 pairs: Sequence[str] | None = None) -> pd.DataFrame:
    with reader(path) as con:
        return query_signals(con, start, end, pairs)


def table_counts(path: str | Path) -> dict[str, int]:
    """Rows per table (0 for a table not created yet); read-only."""
    with reader(path) as con:
        return {t: (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] if has_table(con, t) else 0)
                for t in TABLES}
