"""Candles recomputed from DuckDB trades: the batch pipeline for a rebuild, the SQL reference for parity.

``batch_candles`` rebuilds the bars of an hour when Kafka no longer holds them. It runs
the candle team's batch job (``streaming.candles.job``, the same Beam transforms
the stream runs, on Flink) over the hour's trades taken from DuckDB: the trades are
replayed into a scratch topic with their event times as record times, the batch job
writes candles to a scratch candles topic, the final revision of each bar is read back
and the scratch topics are deleted. A batch run starts at the first window of the range,
so minutes before a pair's first trade in the range are not filled (the stream, which
saw earlier trades, would have filled them).

``late_repairs`` counts the trades the live ingestion repaired over REST (docs/history.md) that
reached the candle stream after its allowed lateness: the ``candles`` asset rebuilds an hour
that has any, so the repair lands in DuckDB's candles too.

``reference_1m_candles`` is the independent DuckDB SQL computation
(``tradestream.candles.reference``) over the stored trades, minus the trades the stream
rejected as late (read from the dead-letter topic), for the stream/batch parity check.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import duckdb
import pandas as pd
from confluent_kafka.admin import NewTopic

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import read_time_range
from tradestream import store
from tradestream.candles.model import CandleRecord
from tradestream.candles.reference import reference_candles
from tradestream.candles.windows import window_start
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.wire import encode_trades
from tradestream.settings import Settings
from tradestream.timeframes import MINUTE_NS, NS_PER_MS, parse_timeframe
from tradestream.v1 import market_pb2

log = logging.getLogger(__name__)

LATE_REASON = "late"
_TAKER_SIDES = {name: TakerSide(side) for side, name in store.TAKER_SIDE_NAMES.items()}
CANDLE_SOURCE = "pipeline:candles"


def to_ns(moment: datetime | pd.Timestamp) -> int:
    """Nanoseconds since the epoch of a UTC instant (naive values are UTC)."""
    stamp = pd.Timestamp(moment)
    return int((stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value)


def from_ns(value: int) -> datetime:
    """The naive UTC datetime (to the microsecond) the store's bar columns hold."""
    return pd.Timestamp(value, unit="ns").to_pydatetime(warn=False)


def candle_record_row(candle: CandleRecord, source: str) -> store.CandleRow:
    return store.CandleRow(candle.currency_pair, candle.timeframe, from_ns(candle.window_start_ns),
                           from_ns(candle.window_end_ns), candle.open, candle.high, candle.low, candle.close,
                           candle.volume, candle.vwap, candle.trade_count, candle.filled, candle.revision, None, source)


def stored_candle_record(row: pd.Series) -> CandleRecord:
    return CandleRecord(currency_pair=row["currency_pair"], timeframe=row["timeframe"],
                        window_start_ns=to_ns(row["window_start"]), window_end_ns=to_ns(row["window_end"]),
                        open=row["open"], high=row["high"], low=row["low"], close=row["close"],
                        volume=row["volume"], vwap=row["vwap"], trade_count=int(row["trade_count"]),
                        filled=bool(row["filled"]), revision=int(row["revision"]))


def rebuild_range(start: datetime, end: datetime, timeframes: Iterable[str]) -> tuple[int, int]:
    """[from_ns, to_ns) of trades whose windows can close in (start, end]: back to the longest bar's start."""
    end_ns = to_ns(end)
    longest = max(parse_timeframe(tf).ns for tf in timeframes)
    return window_start(end_ns - 1, longest), end_ns


def stored_trade_records(trades: pd.DataFrame) -> list[TradeRecord]:
    """DuckDB ``trades`` rows as the records the ingestion published (ingest time aside)."""
    return [TradeRecord(row.exchange, row.currency_pair, row.trade_id, row.price, row.size,
                        _TAKER_SIDES.get(row.taker_side, TakerSide.UNSPECIFIED),
                        int(pd.Timestamp(row.event_time).value))
            for row in trades.itertuples(index=False)]


def batch_candles(settings: Settings, db_path, start: datetime, end: datetime,
                  timeframes: list[str]) -> pd.DataFrame:
    """Bars of ``timeframes`` closing in (start, end], computed by the batch candle job over DuckDB trades."""
    from streaming.candles.job import CandleJobConfig, run_candle_job
    from streaming.candles.reader import read_final_candles

    first_ns, end_ns = rebuild_range(start, end, timeframes)
    trades = store.read_trades(db_path, from_ns(first_ns), end)
    if trades.empty:
        return store.frame([], store.CANDLE_TABLE_COLUMNS)
    kafka = KafkaClientConfig.from_settings(settings.kafka)
    scratch = f"rebuild-{uuid.uuid4().hex[:10]}"
    topics = {"trades": f"{scratch}.trades", "candles": f"{scratch}.candles", "dlq": f"{scratch}.dlq"}
    admin = kafka.admin()
    for future in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1)
                                       for t in topics.values()]).values():
        future.result(30)
    try:
        producer = kafka.producer({"linger.ms": 20, "enable.idempotence": True})
        records = stored_trade_records(trades.sort_values("event_time"))
        for record, value in zip(records, encode_trades(records, None), strict=True):
            producer.produce(topics["trades"], value, record.currency_pair.encode(),
                             timestamp=record.event_time_ns // NS_PER_MS)
            producer.poll(0)
        if producer.flush(60):
            raise RuntimeError(f"could not replay {len(trades)} trades into scratch topic {topics['trades']}")
        config = CandleJobConfig.from_settings(
            settings, "batch", trades_topic=topics["trades"], candles_topic=topics["candles"],
            dlq_topic=topics["dlq"], consumer_group=scratch, job_name=f"tradestream-{scratch}",
            from_ns=first_ns, to_ns=end_ns, timeframes=tuple(timeframes))
        log.info("batch candle job over %d DuckDB trades in [%s, %s)", len(trades), from_ns(first_ns), end)
        run_candle_job(settings, config)
        finals = read_final_candles(kafka, topics["candles"])
    finally:
        for future in admin.delete_topics(list(topics.values())).values():
            try:
                future.result(30)
            except Exception as exc:  # noqa: BLE001 - a leftover scratch topic is untidy, not wrong
                log.warning("could not delete scratch topic: %s", exc)
    start_ns = to_ns(start)
    rows = [candle_record_row(c, "batch") for c in finals.values() if start_ns < c.window_end_ns <= end_ns]
    return store.frame(rows, store.CANDLE_TABLE_COLUMNS)


def late_trade_ids(settings: Settings, start: datetime, end: datetime,
                   until: datetime | None = None) -> set[tuple[str, str, str]]:
    """(exchange, pair, trade_id) of trades the candle stream rejected as late around [start, end): dead letters
    written in [start, end + 15 min), or up to ``until`` + 15 min when trades of the range were published later."""
    def decode(_key, value):
        letter = market_pb2.DeadLetter.FromString(value)
        if letter.source != CANDLE_SOURCE or letter.reason != LATE_REASON:
            return None
        trade = market_pb2.Trade.FromString(letter.payload)
        return (trade.exchange, trade.currency_pair, trade.trade_id)

    start, end = store.utc_naive(start), store.utc_naive(end)
    last = max(end, store.utc_naive(until)) if until is not None else end
    read = read_time_range(KafkaClientConfig.from_settings(settings.kafka), settings.kafka.dlq_topic, start,
                           last + timedelta(minutes=15), decode, timeout_s=60)
    return {r for r in read.records if r is not None}


def late_repairs(settings: Settings, db_path, start: datetime, end: datetime, timeframes: Iterable[str]) -> int:
    """Trades repaired over REST (``source = 'repair'``) that the candle stream dead-lettered as late and whose
    windows close in (start, end]: the stream's bars lack them, a rebuild from DuckDB trades has them.

    Kafka is read only when DuckDB holds repaired trades there; the dead letters are looked for up to
    the latest publish time (``ingest_time``) of those trades, so a repair published long after its
    hour is still found."""
    first_ns, _ = rebuild_range(start, end, timeframes)
    with store.reader(db_path) as con:
        rows = con.execute("SELECT exchange, currency_pair, trade_id, ingest_time FROM trades WHERE source = 'repair' "
                           "AND event_time >= ? AND event_time < ?",
                           [from_ns(first_ns), store.utc_naive(end)]).fetchall()
    if not rows:
        return 0
    published = [r[3] for r in rows if r[3] is not None]
    until = pd.Timestamp(max(published)).to_pydatetime() if published else None
    return len({r[:3] for r in rows} & late_trade_ids(settings, start, end, until))


def reference_1m_candles(con: duckdb.DuckDBPyConnection, start: datetime, until: datetime, fill_cap_s: int,
                         excluded: set[tuple[str, str, str]] = frozenset()) -> list[CandleRecord]:
    """The SQL reference's 1m bars in [start, until) over the stored trades, without ``excluded`` trades."""
    if until <= start:
        return []
    relation = "trades"
    if excluded:
        # a registered frame, not a temp table: readers hold read-only connections
        con.register("_late_trades", pd.DataFrame(sorted(excluded), columns=["exchange", "currency_pair", "trade_id"]))
        relation = "(SELECT * FROM trades ANTI JOIN _late_trades USING (exchange, currency_pair, trade_id))"
    return reference_candles(con, relation, timeframes=["1m"], until_ns=to_ns(until) // MINUTE_NS * MINUTE_NS,
                             fill_cap_s=fill_cap_s, from_ns=to_ns(start), event_ns_expr="epoch_ns(event_time)")
