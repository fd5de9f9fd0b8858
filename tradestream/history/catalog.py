"""The DuckDB side of history imports: trades and progress written together, days, gaps, status.

Tables (``tradestream.store.SCHEMA``): imported trades go to ``trades`` (``source =
'history'``) and their candles to ``candles`` (``source = 'history'``, or ``'exchange'``
for the venue's own bars). Three tables make an import resumable and checkable:

* ``history_coverage``: id spans fetched per (exchange, pair). A chunk of trades and the
  span it completes are written in **one transaction**, so after a crash the coverage
  says exactly what is in ``trades``, and a re-run fetches only the rest.
* ``history_days``: one row per (exchange, pair, UTC day) whose trades were all fetched
  and whose candles were folded, with its trade count and missing ids (written in the
  same transaction as the candles). A day is complete when ``covered_to`` is the next midnight.
* ``history_gaps``: runs of ids the venue did not return although asked twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from tradestream import store
from tradestream.candles.batch import Carry, TradeArrays
from tradestream.candles.windows import minute_start
from tradestream.history.ids import IdSpan, merge
from tradestream.history.venue import TradePage
from tradestream.timeframes import MINUTE_NS, TIMEFRAMES

HISTORY_SOURCE = "history"     # trades and candles folded from them
EXCHANGE_SOURCE = "exchange"   # the venue's own candles
_SIDE_NAMES = np.array([None, "buy", "sell"], dtype=object)  # indexed by tradestream.ingest.trade.TakerSide
_NUMERIC_ID = "TRY_CAST(trade_id AS BIGINT)"
_ORDER_KEY = f"event_time DESC, {_NUMERIC_ID} DESC NULLS LAST, trade_id DESC"


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def ns_to_naive(value: int) -> datetime:
    return pd.Timestamp(value, unit="ns").to_pydatetime(warn=False)


def naive_to_ns(value: datetime | pd.Timestamp) -> int:
    stamp = pd.Timestamp(value)
    return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value)


@dataclass(frozen=True)
class GapRow:
    first_id: int
    last_id: int
    after_ns: int | None     # event time of the trade just below the run
    before_ns: int | None    # event time of the trade just above it


@dataclass(frozen=True)
class DayRow:
    exchange: str
    currency_pair: str
    day: date
    covered_to: datetime
    first_id: int | None
    last_id: int | None
    trades: int
    missing_ids: int
    candles: int

    @property
    def complete(self) -> bool:
        return self.covered_to >= datetime.combine(self.day + timedelta(days=1), datetime.min.time())


# --------------------------------------------------------------------------- writes


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def write_trades(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, page: TradePage,
                 covered: Sequence[IdSpan], gaps: Sequence[GapRow]) -> int:
    """In one transaction: the trades of ``page`` (new ones only), the id spans they complete, the gaps
    found in them. Returns how many trades were new."""
    table = pa.table({
        "trade_id": pa.array(page.trade_id).cast(pa.string()),
        "price": pa.array(page.price), "size": pa.array(page.size),
        "taker_side": pa.array(_SIDE_NAMES[page.taker_side.astype(np.int64)], pa.string()),
        "event_time": pa.array(page.event_ns, pa.timestamp("ns")),
    })
    con.register("_history_chunk", table)
    try:
        with _transaction(con):
            (new,) = con.execute(
                "INSERT INTO trades (exchange, currency_pair, trade_id, price, size, taker_side, event_time, "
                "ingest_time, source) SELECT $exchange, $pair, trade_id, price, size, taker_side, event_time, NULL, "
                f"'{HISTORY_SOURCE}' FROM _history_chunk ON CONFLICT DO NOTHING",
                {"exchange": exchange, "pair": pair}).fetchone()
            if covered:
                _merge_coverage(con, exchange, pair, covered)
            for gap in gaps:
                con.execute("INSERT INTO history_gaps VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                            "last_id = excluded.last_id, found_at = excluded.found_at",
                            [exchange, pair, gap.first_id, gap.last_id,
                             None if gap.after_ns is None else ns_to_naive(gap.after_ns),
                             None if gap.before_ns is None else ns_to_naive(gap.before_ns), now_utc()])
    finally:
        con.unregister("_history_chunk")
    return int(new)


def _merge_coverage(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, spans: Sequence[IdSpan]) -> None:
    merged = merge([*coverage(con, exchange, pair), *spans])
    con.execute("DELETE FROM history_coverage WHERE exchange = ? AND currency_pair = ?", [exchange, pair])
    now = now_utc()
    con.executemany("INSERT INTO history_coverage VALUES (?, ?, ?, ?, ?)",
                    [[exchange, pair, s.first, s.last, now] for s in merged])


def write_day(con: duckdb.DuckDBPyConnection, day: DayRow, candles: pd.DataFrame) -> store.UpsertResult:
    """In one transaction: a day's candles (folded from its trades) and its row in ``history_days``."""
    rows = candle_rows(candles, HISTORY_SOURCE)
    with _transaction(con):
        result = _upsert_candles(con, rows)
        con.execute("INSERT OR REPLACE INTO history_days VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [day.exchange, day.currency_pair, day.day, day.covered_to, day.first_id, day.last_id,
                     day.trades, day.missing_ids, day.candles, now_utc()])
    return result


def write_exchange_bars(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, timeframe: str, day: date,
                        covered_to: datetime, candles: pd.DataFrame) -> store.UpsertResult:
    """In one transaction: the venue's own candles of a day (they only fill windows that hold no candle
    yet) and the day's row in ``history_bar_days``."""
    with _transaction(con):
        result = _upsert_candles(con, candle_rows(candles, EXCHANGE_SOURCE))
        con.execute("INSERT OR REPLACE INTO history_bar_days VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [exchange, pair, timeframe, day, covered_to, len(candles), now_utc()])
    return result


_VALUES = ("open", "high", "low", "close", "volume", "vwap", "trade_count", "filled")


def _upsert_candles(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> store.UpsertResult:
    """History candles replace stored candles whose values differ: they were folded from every trade of
    their windows (a stream may have missed some). Exchange bars never replace a stored candle."""
    differs = " OR ".join(f"{{new}}.{c} IS DISTINCT FROM {{old}}.{c}" for c in _VALUES)
    return store.upsert_candles(con, rows, replace_when=f"{{new}}.source = '{HISTORY_SOURCE}' AND ({differs})",
                                transaction=False)


def candle_rows(candles: pd.DataFrame, source: str) -> pd.DataFrame:
    """A frame of ``CANDLE_FIELDS`` (times in ns) as ``candles`` table rows."""
    out = pd.DataFrame({
        "currency_pair": candles["currency_pair"], "timeframe": candles["timeframe"],
        "window_start": pd.to_datetime(candles["window_start_ns"].to_numpy(np.int64), unit="ns"),
        "window_end": pd.to_datetime(candles["window_end_ns"].to_numpy(np.int64), unit="ns"),
        **{c: candles[c] for c in ("open", "high", "low", "close", "volume", "vwap", "trade_count", "filled")},
    })
    out["revision"] = 0
    out["emitted_at"] = pd.Timestamp(now_utc())
    out["source"] = source
    return out[list(store.CANDLE_TABLE_COLUMNS)]


# --------------------------------------------------------------------------- reads


def coverage(con: duckdb.DuckDBPyConnection, exchange: str, pair: str) -> list[IdSpan]:
    if not store.has_table(con, "history_coverage"):
        return []
    rows = con.execute("SELECT first_id, last_id FROM history_coverage WHERE exchange = ? AND currency_pair = ? "
                       "ORDER BY first_id", [exchange, pair]).fetchall()
    return [IdSpan(a, b) for a, b in rows]


def days(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, first: date, last: date) -> dict[date, DayRow]:
    """The ``history_days`` rows of ``pair`` for days ``first`` to ``last`` (both included)."""
    if not store.has_table(con, "history_days"):
        return {}
    rows = con.execute("SELECT exchange, currency_pair, day, covered_to, first_id, last_id, trades, missing_ids, "
                       "candles FROM history_days WHERE exchange = ? AND currency_pair = ? AND day BETWEEN ? AND ? "
                       "ORDER BY day", [exchange, pair, first, last]).fetchall()
    return {row[2]: DayRow(*row) for row in rows}


def bar_days(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, timeframe: str, first: date,
             last: date) -> dict[date, datetime]:
    """Days whose venue bars of ``timeframe`` were fetched, and up to when."""
    if not store.has_table(con, "history_bar_days"):
        return {}
    rows = con.execute("SELECT day, covered_to FROM history_bar_days WHERE exchange = ? AND currency_pair = ? AND "
                       "timeframe = ? AND day BETWEEN ? AND ?", [exchange, pair, timeframe, first, last]).fetchall()
    return dict(rows)


def day_trades(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, start_ns: int, end_ns: int) -> TradeArrays:
    """The stored trades of ``pair`` at ``exchange`` with start <= event time < end, ids as integers."""
    result = con.execute(
        f"SELECT {_NUMERIC_ID} AS trade_id, epoch_ns(event_time) AS event_ns, price, size FROM trades "
        "WHERE exchange = ? AND currency_pair = ? AND event_time >= ? AND event_time < ?",
        [exchange, pair, ns_to_naive(start_ns), ns_to_naive(end_ns)]).fetchnumpy()
    ids = result["trade_id"]
    if np.ma.isMaskedArray(ids) and ids.mask.any():
        raise ValueError(f"{exchange} {pair} has trade ids that are not integers between {ns_to_naive(start_ns)} "
                         f"and {ns_to_naive(end_ns)}; history imports need the venue's sequential ids")
    return TradeArrays.of(exchange=exchange, currency_pair=pair, trade_id=np.asarray(ids, dtype=np.int64),
                          event_ns=np.asarray(result["event_ns"], dtype=np.int64),
                          price=np.asarray(result["price"]), size=np.asarray(result["size"]))


def carry_before(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, start_ns: int) -> Carry | None:
    """The newest stored trade before ``start_ns`` as the fold's carry: its price closes its minute."""
    row = con.execute(f"SELECT price, epoch_ns(event_time) FROM trades WHERE exchange = ? AND currency_pair = ? "
                      f"AND event_time < ? ORDER BY {_ORDER_KEY} LIMIT 1",
                      [exchange, pair, ns_to_naive(start_ns)]).fetchone()
    if row is None:
        return None
    return Carry(float(row[0]), minute_start(int(row[1])) + MINUTE_NS)


def gap_runs(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, first_id: int, last_id: int) -> list[IdSpan]:
    """Listed venue gaps overlapping ids [first_id, last_id]."""
    if not store.has_table(con, "history_gaps"):
        return []
    rows = con.execute("SELECT greatest(first_id, ?), least(last_id, ?) FROM history_gaps WHERE exchange = ? "
                       "AND currency_pair = ? AND last_id >= ? AND first_id <= ? ORDER BY first_id",
                       [first_id, last_id, exchange, pair, first_id, last_id]).fetchall()
    return [IdSpan(a, b) for a, b in rows]


@dataclass(frozen=True)
class Completeness:
    """Whether the trades of a time range are all held, judged by trade id."""

    trades: int
    first_id: int | None
    last_id: int | None
    missing: list[IdSpan]          # ids between the first and last trade not in `trades`
    listed: list[IdSpan]           # of those, the runs the venue did not have (history_gaps)
    covered: bool                  # the import fetched every id of the range (history_days)

    @property
    def missing_ids(self) -> int:
        return sum(len(s) for s in self.missing)

    @property
    def unexplained(self) -> list[IdSpan]:
        """Missing ids that are not listed as missing at the venue."""
        listed = {(s.first, s.last) for s in self.listed}
        return [s for s in self.missing if (s.first, s.last) not in listed]


def completeness(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, start: datetime,
                 end: datetime) -> Completeness:
    """Trade-id completeness of ``pair`` in [start, end): the runs of ids missing between the range's
    first and last stored trade (SQL over ``trades``), which of them the venue lacks, and whether an
    import covered the range."""
    bounds = [exchange, pair, start, end]
    count, first_id, last_id = con.execute(
        f"SELECT count(*), min({_NUMERIC_ID}), max({_NUMERIC_ID}) FROM trades WHERE exchange = ? AND "
        "currency_pair = ? AND event_time >= ? AND event_time < ?", bounds).fetchone()
    runs = con.execute(
        f"SELECT previous + 1, id - 1 FROM (SELECT {_NUMERIC_ID} AS id, lag({_NUMERIC_ID}) OVER (ORDER BY "
        f"{_NUMERIC_ID}) AS previous FROM trades WHERE exchange = ? AND currency_pair = ? AND event_time >= ? AND "
        "event_time < ?) WHERE id > previous + 1 ORDER BY id", bounds).fetchall()
    missing = [IdSpan(a, b) for a, b in runs]
    listed = []
    if missing:
        listed = [s for s in gap_runs(con, exchange, pair, first_id, last_id)
                  if any(m.first <= s.first and s.last <= m.last for m in missing)]
    covered = False
    if store.has_table(con, "history_days"):
        rows = con.execute("SELECT day, covered_to FROM history_days WHERE exchange = ? AND currency_pair = ? "
                           "AND day >= ? AND day < ?", [exchange, pair, start.date(),
                                                        (end - timedelta(microseconds=1)).date() + timedelta(days=1)]
                           ).fetchall()
        held = {day: to for day, to in rows}
        day = start.date()
        covered = True
        while datetime.combine(day, datetime.min.time()) < end:
            if held.get(day) is None or held[day] < min(end, datetime.combine(day + timedelta(days=1),
                                                                              datetime.min.time())):
                covered = False
                break
            day += timedelta(days=1)
    return Completeness(int(count), first_id, last_id, missing, listed, covered)


def listed_gaps(con: duckdb.DuckDBPyConnection, pairs: Sequence[str] | None = None, limit: int = 20) -> pd.DataFrame:
    """The newest ``limit`` runs of ids the venue did not return, per pair."""
    params: list = []
    where = ""
    if pairs:
        where = f" WHERE currency_pair IN ({', '.join('?' for _ in pairs)})"
        params = list(pairs)
    return con.execute(f"SELECT exchange, currency_pair, first_id, last_id, after_time, before_time FROM history_gaps"
                       f"{where} ORDER BY currency_pair, first_id DESC LIMIT {int(limit)}", params).df()


def status(con: duckdb.DuckDBPyConnection, pairs: Sequence[str] | None = None) -> pd.DataFrame:
    """What is held per pair: trades (by source) and candles per timeframe, first and last, gaps.

    One row per (currency_pair, what), ``what`` being ``trades`` or a timeframe; columns
    first, last, rows, sources, days imported, missing ids.
    """
    params: list = []
    where = ""
    if pairs:
        where = f" WHERE currency_pair IN ({', '.join('?' for _ in pairs)})"
        params = list(pairs)
    trades = con.execute(
        "SELECT currency_pair, 'trades' AS what, min(event_time) AS first, max(event_time) AS last, count(*) AS rows, "
        "string_agg(DISTINCT source, ', ' ORDER BY source) AS sources FROM trades" + where +
        " GROUP BY currency_pair", params).df()
    candles = con.execute(
        "SELECT currency_pair, timeframe AS what, min(window_start) AS first, max(window_start) AS last, "
        "count(*) AS rows, string_agg(DISTINCT source, ', ' ORDER BY source) AS sources FROM candles" + where +
        " GROUP BY currency_pair, timeframe", params).df()
    out = pd.concat([trades, candles], ignore_index=True)
    rank = {w: i for i, w in enumerate(("trades", *TIMEFRAMES))}
    out = out.assign(_r=out["what"].map(rank)).sort_values(["currency_pair", "_r"]).drop(columns="_r")
    days = con.execute(
        "SELECT currency_pair, count(*) FILTER (WHERE covered_to >= day + INTERVAL 1 DAY) AS days, "
        "sum(missing_ids) AS missing_ids FROM history_days" + where + " GROUP BY currency_pair", params).df()
    out = out.merge(days, on="currency_pair", how="left")
    out["days"] = out["days"].fillna(0).astype(int)
    out["missing_ids"] = out["missing_ids"].fillna(0).astype(int)
    return out.reset_index(drop=True)

