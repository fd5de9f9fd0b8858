"""Hourly DuckDB partitions of ``trades``, ``candles`` and ``signals``, read from Kafka by time range.

A partition ``[start, end)`` is read from its topic by offsets for times (with slack
for records that arrive late), filtered to the rows that belong to the hour, and
upserted on the table's key: materializing it twice leaves the same rows.

* ``trades``: trades with ``start <= event_time < end``, and trades repaired over REST
  (``source = 'repair'``) of earlier hours, published after those hours were read.
* ``candles``: bars of every timeframe that close within ``(start, end]``. When the
  topic no longer holds the range (retention deleted it) or the config asks for it, the
  bars are rebuilt from DuckDB ``trades`` with the batch candle pipeline, the same
  transforms the stream runs.
* ``signals``: signals whose candle closes within ``(start, end]``.

Undecodable records do not fail a partition: the good rows are written and the count
of bad ones (with the first error) is reported as metadata. Writers share the
``duckdb_writer`` pool (limit 1): one writer at a time on the DuckDB file.
"""


from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import dagster as dg
import pandas as pd
from pydantic import Field

from streaming.kafka.ranges import RangeRead, read_time_range
from tradestream import store
from tradestream.v1 import market_pb2, strategy_pb2
from tradestream_assets.partitions import hourly_partitions
from tradestream_assets.resources import DuckDBStore, KafkaResource, platform_settings
from tradestream_assets.warehouse.rebuild import batch_candles, late_repairs

GROUP = "warehouse"
WRITER_POOL = "duckdb_writer"

#: Kafka timestamps are publish times: trades are published shortly after they happen (or a
#: little before, with clock skew); candles and signals after their bar closed and the
#: allowed lateness passed. Read this much around the hour so late records are not missed.
TRADES_EARLY = timedelta(minutes=5)
TRADES_LATE = timedelta(minutes=5)
BARS_LATE = timedelta(minutes=10)


def hours(context: dg.AssetExecutionContext) -> list[tuple[datetime, datetime]]:
    """The hours of the run: one for a partition, several for a single-run backfill of a range.

    A range is processed hour by hour, so a backfill of days never holds more than an hour
    of records in memory.
    """
    window = context.partition_time_window
    start, end = store.utc_naive(window.start), store.utc_naive(window.end)
    out = []
    while start < end:
        out.append((start, min(start + timedelta(hours=1), end)))
        start += timedelta(hours=1)
    return out


@dataclass
class HourlyTotals:
    """What a run read and wrote, summed over its hours, as partition metadata."""

    topic: str
    records_read: int = 0
    undecodable: int = 0
    first_error: str | None = None
    complete: bool = True
    rows_in_range: int = 0
    rows_new: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    read_seconds: float = 0.0
    offsets: dict[str, list[int]] = field(default_factory=dict)

    def add_read(self, hour: datetime, read: RangeRead) -> None:
        self.records_read += read.records_read
        self.undecodable += read.undecodable
        self.first_error = self.first_error or read.first_error
        self.complete = self.complete and read.complete
        self.read_seconds += read.seconds
        for p, (first, last) in read.offsets.items():
            self.offsets[f"{hour:%H:%M} p{p}"] = [first, last]

    def add_upsert(self, result: store.UpsertResult) -> None:
        self.rows_in_range += result.rows_in
        self.rows_new += result.rows_new
        self.rows_updated += result.rows_updated
        self.rows_unchanged += result.rows_unchanged

    def metadata(self, stored_rows: int) -> dict[str, dg.MetadataValue]:
        meta = {
            "kafka_topic": dg.MetadataValue.text(self.topic),
            "kafka_records_read": dg.MetadataValue.int(self.records_read),
            "undecodable_records": dg.MetadataValue.int(self.undecodable),
            "rows_in_hour": dg.MetadataValue.int(self.rows_in_range),
            "kafka_range_complete": dg.MetadataValue.bool(self.complete),
            "kafka_offsets": dg.MetadataValue.json(self.offsets),
            "kafka_read_seconds": dg.MetadataValue.float(round(self.read_seconds, 2)),
            "rows_new": dg.MetadataValue.int(self.rows_new),
            "rows_updated": dg.MetadataValue.int(self.rows_updated),
            "rows_unchanged": dg.MetadataValue.int(self.rows_unchanged),
            "dagster/row_count": dg.MetadataValue.int(stored_rows),
        }
        if self.first_error:
            meta["first_undecodable"] = dg.MetadataValue.text(self.first_error)
        return meta

    def warn(self, context: dg.AssetExecutionContext) -> None:
        if self.undecodable:
            context.log.warning(f"{self.undecodable} undecodable record(s) on {self.topic} skipped; first: "
                                f"{self.first_error}")


def _counts(frame: pd.DataFrame, column: str) -> dg.MetadataValue:
    counts = frame.groupby(column).size().to_dict() if not frame.empty else {}
    return dg.MetadataValue.json({k: int(v) for k, v in sorted(counts.items())})


def _decoder[Row](message_type, to_row: Callable[..., Row]) -> Callable[[bytes | None, bytes | None], Row]:
    def decode(_key: bytes | None, value: bytes | None) -> Row:
        if not value:
            raise ValueError("empty record value")
        return to_row(message_type.FromString(value))

    return decode


decode_trade = _decoder(market_pb2.Trade, store.trade_row)
decode_candle = _decoder(market_pb2.Candle, store.candle_row)
decode_signal = _decoder(strategy_pb2.Signal, store.signal_row)


# --------------------------------------------------------------------------- trades

SINGLE_RUN = dg.BackfillPolicy.single_run()


@dg.asset(partitions_def=hourly_partitions, backfill_policy=SINGLE_RUN, pool=WRITER_POOL, group_name=GROUP,
          kinds={"duckdb", "kafka"}, deps=[dg.AssetKey("trades_stream")],
          description="Trades of the hour (by event time) from Kafka `trades`, deduplicated on "
                      "(exchange, currency_pair, trade_id).")
def trades(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore) -> dg.MaterializeResult:
    topic = kafka.kafka_settings().trades_topic
    totals = HourlyTotals(topic)
    late_repaired: Counter[str] = Counter()
    for start, end in hours(context):
        read = read_time_range(kafka.client(), topic, start - TRADES_EARLY, end + TRADES_LATE, decode_trade)
        totals.add_read(start, read)
        # a repair published after its own hour's read window: kept here, so it is in DuckDB all the same
        late = [r for r in read.records if r.source == "repair" and r.event_time < start - TRADES_EARLY]
        late_repaired.update(f"{r.event_time:%Y-%m-%d-%H}:00" for r in late)
        rows = store.frame([r for r in read.records if start <= r.event_time < end] + late, store.TRADE_TABLE_COLUMNS)
        with duckdb.writer() as con:
            totals.add_upsert(store.upsert_trades(con, rows))
    totals.warn(context)
    if late_repaired:
        context.log.warning(f"trades repaired over REST after their hour was read were stored: {dict(late_repaired)};"
                            " materialize `candles` of those hours again to rebuild their bars with them")
    if not totals.complete:
        context.log.warning(f"Kafka `{topic}` no longer holds all of the range; rows already in DuckDB are kept, "
                            "nothing else can restore the deleted ones")
    first, last = hours(context)[0][0], hours(context)[-1][1]
    with duckdb.reader() as con:
        stored = store.query_trades(con, first, last)
    return dg.MaterializeResult(metadata={**totals.metadata(len(stored)), "pairs": _counts(stored, "currency_pair"),
                                          "late_repairs_by_hour": dg.MetadataValue.json(dict(sorted(
                                              late_repaired.items())))})


# --------------------------------------------------------------------------- candles


class CandleSource(StrEnum):
    AUTO = "auto"
    KAFKA = "kafka"
    TRADES = "trades"


class CandlesPartitionConfig(dg.Config):
    source: CandleSource = Field(
        CandleSource.AUTO,
        description="auto: Kafka `candles`, rebuilt from DuckDB trades when the topic no longer holds the hour or "
                "trades repaired over REST came too late for the stream; "
                    " kafka: only the topic; trades: always rebuild from DuckDB trades (batch pipeline).")


@dg.asset(partitions_def=hourly_partitions, backfill_policy=SINGLE_RUN, pool=WRITER_POOL, group_name=GROUP,
          kinds={"duckdb", "kafka"}, deps=[dg.AssetKey("candles_stream"), trades],
          description="Candles of every timeframe that close within the hour, from Kafka `candles` (highest "
                      "revision wins), or rebuilt from DuckDB trades when the topic no longer holds the hour.")
def candles(context: dg.AssetExecutionContext, config: CandlesPartitionConfig, kafka: KafkaResource,
            duckdb: DuckDBStore) -> dg.MaterializeResult:
    settings = platform_settings(kafka)
    topic = settings.kafka.candles_topic
    totals = HourlyTotals(topic)
    source = CandleSource(config.source)
    rebuilt = []
    for start, end in hours(context):
        read = None
        if source is not CandleSource.TRADES:
            read = read_time_range(kafka.client(), topic, start, end + BARS_LATE, decode_candle)
            totals.add_read(start, read)
        repairs = 0
        if source is CandleSource.AUTO and read.complete and duckdb.db_path.exists():
            repairs = late_repairs(settings, duckdb.db_path, start, end, settings.pipeline.timeframes)
        if source is CandleSource.TRADES or (source is CandleSource.AUTO and (not read.complete or repairs)):
            why = "asked for" if source is CandleSource.TRADES else (
                f"{repairs} repaired trade(s) reached the stream after its allowed lateness" if repairs
                else f"Kafka `{topic}` no longer holds the hour")
            context.log.info(f"rebuilding candles of [{start}, {end}) from DuckDB trades ({why})")
            rows = batch_candles(settings, duckdb.db_path, start, end, list(settings.pipeline.timeframes))
            rebuilt.append(f"{start:%Y-%m-%d %H:%M} ({why})")
        else:
            rows = store.frame((r for r in read.records if start < r.window_end <= end), store.CANDLE_TABLE_COLUMNS)
        with duckdb.writer() as con:
            totals.add_upsert(store.upsert_candles(con, rows))
    totals.warn(context)
    first, last = hours(context)[0][0], hours(context)[-1][1]
    with duckdb.reader() as con:
        stored = store.query_candles(con, first, last)
    return dg.MaterializeResult(metadata={
        **totals.metadata(len(stored)), "rows_by_timeframe": _counts(stored, "timeframe"),
        "rebuilt_from_trades": dg.MetadataValue.bool(bool(rebuilt)),
        "source": dg.MetadataValue.text("batch pipeline over DuckDB trades for " + ", ".join(rebuilt) if rebuilt
                                        else f"Kafka `{topic}`")})


# --------------------------------------------------------------------------- signals


@dg.asset(partitions_def=hourly_partitions, backfill_policy=SINGLE_RUN, pool=WRITER_POOL, group_name=GROUP,
          kinds={"duckdb", "kafka"}, deps=[dg.AssetKey("signals_stream"), candles],
          description="Strategy signals whose candle closes within the hour, from Kafka `signals`, keyed on "
                      "(strategy, params, currency_pair, timeframe, candle_time).")
def signals(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore) -> dg.MaterializeResult:
    topic = kafka.kafka_settings().signals_topic
    totals = HourlyTotals(topic)
    for start, end in hours(context):
        read = read_time_range(kafka.client(), topic, start, end + BARS_LATE, decode_signal)
        totals.add_read(start, read)
        rows = store.frame((r for r in read.records if start < r.candle_close <= end), store.SIGNAL_TABLE_COLUMNS)
        with duckdb.writer() as con:
            totals.add_upsert(store.upsert_signals(con, rows))
    totals.warn(context)
    first, last = hours(context)[0][0], hours(context)[-1][1]
    with duckdb.reader() as con:
        stored = store.query_signals(con, first, last)
    return dg.MaterializeResult(metadata={**totals.metadata(len(stored)),
                                          "signals_by_strategy": _counts(stored, "strategy")})


WAREHOUSE_ASSETS = (trades, candles, signals)
