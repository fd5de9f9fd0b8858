"""Hourly DuckDB partitions of ``trades``, ``candles`` and ``signals``, read from Kafka by time range.

A partition ``[start, end)`` is read from its topic by offsets for times (with slack
for records that arrive late), filtered to the rows that belong to the hour, and
upserted on the table's key: materializing it twice leaves the same rows.

* ``trades``: trades with ``start <= event_time < end``.
* ``candles``: bars of every timeframe that close within ``(start, end]``. When the
  topic no longer holds the range (retention deleted it) or the config asks for it, the
  bars are rebuilt from DuckDB ``trades`` with the batch candle pipeline, the same
  transforms the stream runs.
* ``signals``: signals whose candle closes within ``(start, end]``.

Undecodable records do not fail a partition: the good rows are written and the count
of bad ones (with the first error) is reported as metadata. Writers share the
``duckdb_writer`` pool (limit 1): one writer at a time on the DuckDB file.
"""


from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

import dagster as dg
from pydantic import Field

from streaming.kafka_range import RangeRead, read_time_range
from tradestream import store
from tradestream.v1 import market_pb2, strategy_pb2
from tradestream_assets.partitions import hourly_partitions
from tradestream_assets.resources import DuckDBStore, KafkaResource, platform_settings
from tradestream_assets.warehouse.rebuild import batch_candles

GROUP = "warehouse"
WRITER_POOL = "duckdb_writer"

#: Kafka timestamps are publish times: trades are published shortly after they happen (or a
#: little before, with clock skew); candles and signals after their bar closed and the
#: allowed lateness passed. Read this much around the hour so late records are not missed.
TRADES_EARLY = timedelta(minutes=5)
TRADES_LATE = timedelta(minutes=5)
BARS_LATE = timedelta(minutes=10)


def _window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    window = context.partition_time_window
    return store.utc_naive(window.start), store.utc_naive(window.end)


def _range_metadata(read: RangeRead, rows: int) -> dict[str, dg.MetadataValue]:
    meta = {
        "kafka_topic": dg.MetadataValue.text(read.topic),
        "kafka_records_read": dg.MetadataValue.int(read.records_read),
        "undecodable_records": dg.MetadataValue.int(read.undecodable),
        "rows_in_hour": dg.MetadataValue.int(rows),
        "kafka_range_complete": dg.MetadataValue.bool(read.complete),
        "kafka_offsets": dg.MetadataValue.json({str(p): list(o) for p, o in read.offsets.items()}),
        "kafka_read_seconds": dg.MetadataValue.float(round(read.seconds, 2)),
    }
    if read.first_error:
        meta["first_undecodable"] = dg.MetadataValue.text(read.first_error)
    return meta


def _upsert_metadata(result: store.UpsertResult, total: int) -> dict[str, dg.MetadataValue]:
    return {
        "rows_new": dg.MetadataValue.int(result.rows_new),
        "rows_updated": dg.MetadataValue.int(result.rows_updated),
        "rows_unchanged": dg.MetadataValue.int(result.rows_unchanged),
        "dagster/row_count": dg.MetadataValue.int(total),
    }


def _decoder(message_type, to_row: Callable) -> Callable[[bytes | None, bytes | None], tuple]:
    def decode(_key: bytes | None, value: bytes | None) -> tuple:
        if not value:
            raise ValueError("empty record value")
        return to_row(message_type.FromString(value))

    return decode


decode_trade = _decoder(market_pb2.Trade, store.trade_row)
decode_candle = _decoder(market_pb2.Candle, store.candle_row)
decode_signal = _decoder(strategy_pb2.Signal, store.signal_row)


def _warn_incomplete(context: dg.AssetExecutionContext, read: RangeRead) -> None:
    if read.undecodable:
        context.log.warning(f"{read.undecodable} undecodable record(s) on {read.topic} skipped; first: "
                            f"{read.first_error}")


# --------------------------------------------------------------------------- trades


@dg.asset(partitions_def=hourly_partitions, pool=WRITER_POOL, group_name=GROUP, kinds={"duckdb", "kafka"},
          deps=[dg.AssetKey("trades_stream")],
          description="Trades of the hour (by event time) from Kafka `trades`, deduplicated on "
                      "(exchange, currency_pair, trade_id).")
def trades(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore) -> dg.MaterializeResult:
    start, end = _window(context)
    topic = kafka.kafka_settings().trades_topic
    read = read_time_range(kafka.bootstrap, topic, start - TRADES_EARLY, end + TRADES_LATE, decode_trade)
    _warn_incomplete(context, read)
    rows = store.frame((r for r in read.records if start <= r[6] < end), store.TRADE_COLUMNS)
    with duckdb.writer() as con:
        result = store.upsert_trades(con, rows)
        stored = store.query_trades(con, start, end)
    if not read.complete:
        context.log.warning(f"Kafka `{topic}` no longer holds all of [{start}, {end}); rows already in DuckDB are "
                            "kept, nothing else can restore the deleted ones")
    per_pair = stored.groupby("currency_pair").size().to_dict() if not stored.empty else {}
    return dg.MaterializeResult(metadata={
        **_range_metadata(read, len(rows)), **_upsert_metadata(result, len(stored)),
        "pairs": dg.MetadataValue.json({k: int(v) for k, v in sorted(per_pair.items())}),
    })


# --------------------------------------------------------------------------- candles


class CandleSource(StrEnum):
    AUTO = "auto"
    KAFKA = "kafka"
    TRADES = "trades"


class CandlesPartitionConfig(dg.Config):
    source: CandleSource = Field(
        CandleSource.AUTO,
        description="auto: Kafka `candles`, rebuilt from DuckDB trades when the topic no longer holds the hour; "
                    " kafka: only the topic; trades: always rebuild from DuckDB trades (batch pipeline).")


@dg.asset(partitions_def=hourly_partitions, pool=WRITER_POOL, group_name=GROUP, kinds={"duckdb", "kafka"},
          deps=[dg.AssetKey("candles_stream"), trades],
          description="Candles of every timeframe that close within the hour, from Kafka `candles` (highest "
                      "revision wins), or rebuilt from DuckDB trades when the topic no longer holds the hour.")
def candles(context: dg.AssetExecutionContext, config: CandlesPartitionConfig, kafka: KafkaResource,
            duckdb: DuckDBStore) -> dg.MaterializeResult:
    start, end = _window(context)
    settings = platform_settings(kafka)
    topic = settings.kafka.candles_topic
    metadata: dict[str, dg.MetadataValue] = {}
    read = None
    source = CandleSource(config.source)
    if source is not CandleSource.TRADES:
        read = read_time_range(kafka.bootstrap, topic, start, end + BARS_LATE, decode_candle)
        _warn_incomplete(context, read)
    rebuild = source is CandleSource.TRADES or (source is CandleSource.AUTO and read is not None
                                                and not read.complete)
    if rebuild:
        why = "asked for" if source is CandleSource.TRADES else f"Kafka `{topic}` no longer holds the hour"
        context.log.info(f"rebuilding candles of [{start}, {end}) from DuckDB trades ({why})")
        rows = batch_candles(settings, duckdb.db_path, start, end, list(settings.pipeline.timeframes))
        metadata["source"] = dg.MetadataValue.text(f"batch pipeline over DuckDB trades ({why})")
    else:
        rows = store.frame((r for r in read.records if start < r[3] <= end), store.CANDLE_COLUMNS)
        metadata["source"] = dg.MetadataValue.text(f"Kafka `{topic}`")
    if read is not None:
        metadata.update(_range_metadata(read, len(rows)))
    with duckdb.writer() as con:
        result = store.upsert_candles(con, rows)
        stored = store.query_candles(con, start, end)
    per_tf = stored.groupby("timeframe").size().to_dict() if not stored.empty else {}
    metadata.update(_upsert_metadata(result, len(stored)))
    metadata["rows_by_timeframe"] = dg.MetadataValue.json({k: int(v) for k, v in sorted(per_tf.items())})
    metadata["rebuilt_from_trades"] = dg.MetadataValue.bool(rebuild)
    return dg.MaterializeResult(metadata=metadata)


# --------------------------------------------------------------------------- signals


@dg.asset(partitions_def=hourly_partitions, pool=WRITER_POOL, group_name=GROUP, kinds={"duckdb", "kafka"},
          deps=[dg.AssetKey("signals_stream"), candles],
          description="Strategy signals whose candle closes within the hour, from Kafka `signals`, keyed on "
                      "(strategy, params, currency_pair, timeframe, candle_time).")
def signals(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore) -> dg.MaterializeResult:
    start, end = _window(context)
    topic = kafka.kafka_settings().signals_topic
    read = read_time_range(kafka.bootstrap, topic, start, end + BARS_LATE, decode_signal)
    _warn_incomplete(context, read)
    rows = store.frame((r for r in read.records if start < r[5] <= end), store.SIGNAL_COLUMNS)
    with duckdb.writer() as con:
        result = store.upsert_signals(con, rows)
        stored = store.query_signals(con, start, end)
    by_strategy = stored.groupby("strategy").size().to_dict() if not stored.empty else {}
    return dg.MaterializeResult(metadata={
        **_range_metadata(read, len(rows)), **_upsert_metadata(result, len(stored)),
        "signals_by_strategy": dg.MetadataValue.json({k: int(v) for k, v in sorted(by_strategy.items())}),
    })


WAREHOUSE_ASSETS = (trades, candles, signals)
