"""An independent computation of the candles in DuckDB SQL.

The streaming job builds candles incrementally (state machines, exact float sums); this
module states the same rules declaratively over a table of trades, so each can check the
other: the tests compare them field by field, and the Dagster asset check compares the
candles stored in DuckDB with this query over the stored trades.

What this reference cannot know is which trades the stream dropped as too late (that
depends on when they arrived): callers pass the trades the job accepted, e.g. all
trades minus those on the dead-letter topic with reason ``late``.

Sums: DuckDB's ``fsum`` is a compensated (Kahan) sum, very close to but not always the
correctly rounded sum the pipeline computes; compare volume and vwap with a relative
tolerance of 1e-12 (``candles_match``), every other field exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import duckdb
import pyarrow as pa

from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.timeframes import MINUTE_NS, NS_PER_SECOND, parse_timeframe

SUM_RELATIVE_TOLERANCE = 1e-12

_CANDLES_SQL = """
WITH trades AS (
    SELECT exchange, currency_pair, trade_id, price, size, {event_ns} AS event_ns
    FROM ({trades})
    WHERE {event_ns} < $until AND ($from_ns IS NULL OR {event_ns} >= $from_ns)
),
unique_trades AS (
    SELECT * FROM trades
    QUALIFY row_number() OVER (PARTITION BY exchange, currency_pair, trade_id
                               ORDER BY event_ns, price, size) = 1
),
ordered AS (
    SELECT *,
        -- first/last trade: by event time, then numeric ids as numbers before other ids as text
        {{'t': event_ns,
          'text_id': NOT regexp_full_match(trade_id, '[0-9]{{1,38}}'),
          'num_id': CASE WHEN regexp_full_match(trade_id, '[0-9]{{1,38}}') THEN CAST(trade_id AS HUGEINT)
                         ELSE 0 END,
          'id': trade_id,
          'exchange': exchange}} AS sort_key,
        event_ns - event_ns % $duration AS ws,
        event_ns - event_ns % {minute} + {minute} AS minute_end
    FROM unique_trades
),
traded AS (
    SELECT currency_pair, ws,
        arg_min(price, sort_key) AS open, max(price) AS high, min(price) AS low,
        arg_max(price, sort_key) AS close, fsum(size) AS volume, fsum(price * size) AS pv,
        count(*) AS trade_count, max(minute_end) AS last_traded_minute_end
    FROM ordered
    GROUP BY currency_pair, ws
),
windows AS (
    -- every window from the pair's first traded window to the last one ending by `until`
    SELECT currency_pair, unnest(range(first_ws, $until - $duration + 1, $duration)) AS ws
    FROM (SELECT currency_pair, min(ws) AS first_ws FROM traded GROUP BY currency_pair)
),
candidates AS (
    SELECT w.currency_pair, w.ws, t.open, t.high, t.low, t.close, t.volume, t.pv, t.trade_count
    FROM windows w LEFT JOIN traded t USING (currency_pair, ws)
    WHERE $from_ns IS NULL OR w.ws >= $from_ns
),
with_previous AS (
    SELECT c.*, p.close AS previous_close, p.last_traded_minute_end AS previous_traded_end
    FROM candidates c ASOF LEFT JOIN traded p ON c.currency_pair = p.currency_pair AND c.ws > p.ws
)
SELECT currency_pair, ws, ws + $duration AS we,
    coalesce(open, previous_close), coalesce(high, previous_close), coalesce(low, previous_close),
    coalesce(close, previous_close), coalesce(volume, 0.0),
    CASE WHEN trade_count IS NULL THEN previous_close ELSE pv / volume END,
    coalesce(trade_count, 0), trade_count IS NULL
FROM with_previous
WHERE trade_count IS NOT NULL
   OR (previous_close IS NOT NULL AND ws < previous_traded_end + $fill_cap)
ORDER BY currency_pair, ws
"""


def candles_sql(trades_relation: str, event_ns_expr: str = "event_time_ns") -> str:
    """The reference query over ``trades_relation`` (a table name or a parenthesised SELECT).

    The relation needs columns exchange, currency_pair, trade_id, price, size and an
    event time in integer nanoseconds given by ``event_ns_expr`` (e.g. ``epoch_ns(event_time)``).
    Parameters: ``$duration`` (timeframe in ns), ``$until`` (windows end at or before it),
    ``$from_ns`` (NULL, or windows and trades start at or after it), ``$fill_cap`` (ns).
    """
    return _CANDLES_SQL.format(trades=f"SELECT * FROM {trades_relation}", event_ns=event_ns_expr,
                               minute=MINUTE_NS)


def reference_candles(con: duckdb.DuckDBPyConnection, trades_relation: str, *, timeframes: Sequence[str],
                      until_ns: int, fill_cap_s: int, from_ns: int | None = None,
                      event_ns_expr: str = "event_time_ns") -> list[CandleRecord]:
    """Candles of every timeframe whose windows end at or before ``until_ns``."""
    if fill_cap_s < 60:
        raise ValueError(f"fill_cap_s={fill_cap_s} must be at least 60 (one minute)")
    sql = candles_sql(trades_relation, event_ns_expr)
    out: list[CandleRecord] = []
    for tf in timeframes:
        rows = con.execute(sql, {"duration": parse_timeframe(tf).ns, "until": until_ns, "from_ns": from_ns,
                                 "fill_cap": fill_cap_s * NS_PER_SECOND}).fetchall()
        out.extend(CandleRecord(currency_pair=pair, timeframe=tf, window_start_ns=ws, window_end_ns=we,
                                open=o, high=h, low=lo, close=c, volume=v, vwap=vw, trade_count=n, filled=f)
                   for pair, ws, we, o, h, lo, c, v, vw, n, f in rows)
    return out


def trades_table(ticks: Iterable[TradeTick]) -> pa.Table:
    """Trade ticks as an Arrow table with the columns the reference query reads."""
    ticks = list(ticks)
    return pa.table({
        "exchange": pa.array([t.exchange for t in ticks], pa.string()),
        "currency_pair": pa.array([t.currency_pair for t in ticks], pa.string()),
        "trade_id": pa.array([t.trade_id for t in ticks], pa.string()),
        "price": pa.array([t.price for t in ticks], pa.float64()),
        "size": pa.array([t.size for t in ticks], pa.float64()),
        "event_time_ns": pa.array([t.event_ns for t in ticks], pa.int64()),
    })


def reference_candles_for_ticks(ticks: Iterable[TradeTick], *, timeframes: Sequence[str], until_ns: int,
                                fill_cap_s: int, from_ns: int | None = None) -> list[CandleRecord]:
    """The reference over in-memory ticks (tests and benchmarks), in a private DuckDB."""
    con = duckdb.connect()
    try:
        con.register("reference_trades", trades_table(ticks))
        return reference_candles(con, "reference_trades", timeframes=timeframes, until_ns=until_ns,
                                 fill_cap_s=fill_cap_s, from_ns=from_ns)
    finally:
        con.close()


def candles_match(actual: CandleRecord, expected: CandleRecord) -> bool:
    """Equal in every published field but the revision; volume and vwap to 1e-12 relative."""
    exact = ("currency_pair", "timeframe", "window_start_ns", "window_end_ns", "open", "high", "low", "close",
             "trade_count", "filled")
    if any(getattr(actual, f) != getattr(expected, f) for f in exact):
        return False
    return all(math.isclose(getattr(actual, f), getattr(expected, f), rel_tol=SUM_RELATIVE_TOLERANCE, abs_tol=0.0)
               for f in ("volume", "vwap"))


def diff_candles(actual: Iterable[CandleRecord], expected: Iterable[CandleRecord], limit: int = 10) -> list[str]:
    """Human-readable differences between two candle sets keyed by (pair, timeframe, window start)."""
    got = {c.key: c for c in actual}
    want = {c.key: c for c in expected}
    problems = []
    for key in sorted(want.keys() - got.keys()):
        problems.append(f"missing: {want[key]}")
    for key in sorted(got.keys() - want.keys()):
        problems.append(f"unexpected: {got[key]}")
    for key in sorted(got.keys() & want.keys()):
        if not candles_match(got[key], want[key]):
            problems.append(f"differs:\n   got  {got[key]}\n   want {want[key]}")
    if len(problems) > limit:
        problems = problems[:limit] + [f"... and {len(problems) - limit} more"]
    return problems
