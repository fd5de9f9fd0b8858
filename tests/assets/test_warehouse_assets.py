"""Hourly DuckDB partitions from Kafka by time range: idempotent, tolerant of bad records, rebuilt when gone."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.assets.conftest import partition_key
from tests.assets.records import candle, produce, signal, trade
from tradestream import store
from tradestream.candles.model import TradeTick
from tradestream.candles.reference import reference_candles_for_ticks
from tradestream.v1 import strategy_pb2
from tradestream_assets.warehouse.assets import candles, signals, trades
from tradestream_assets.warehouse.rebuild import candle_record_row, to_ns

PAIRS = ("BTC-USD", "ETH-USD")


def hour_of_trades(hour, per_minute: int = 3, minutes: int = 60, spill: bool = True, first_id: int = 0):
    """Trades of two pairs through the hour (plus some just before and after it), as Kafka records."""
    records, ticks = [], []
    n = first_id
    for minute in range(-2, minutes + (2 if spill else 0)):
        for k in range(per_minute):
            for i, pair in enumerate(PAIRS):
                at = hour + timedelta(minutes=minute, seconds=5 + 17 * k + i)
                price = 100.0 * (i + 1) + minute * 0.1 + k * 0.01
                n += 1
                records.append((pair, trade(pair, str(n), price, 0.25 + k, at), at))
                ticks.append(TradeTick("simulator", pair, str(n), int(to_ns(at)), price, 0.25 + k))
    return records, ticks


def _table(path, table: str) -> list[tuple]:
    with store.reader(path) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def _meta(result, key: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path == [key]]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_trades_partition_holds_the_hours_trades_and_twice_gives_the_same_rows(resources, bootstrap, topics,
                                                                                hour, duckdb_path):
    records, _ = hour_of_trades(hour)
    produce(bootstrap, topics.trades, records)
    first = _meta(dg.materialize([trades], partition_key=partition_key(hour), resources=resources), "trades")
    rows = _table(duckdb_path, "trades")
    second = _meta(dg.materialize([trades], partition_key=partition_key(hour), resources=resources), "trades")
    assert _table(duckdb_path, "trades") == rows
    assert len(rows) == 60 * 3 * 2 == first["rows_in_hour"] == first["rows_new"]
    assert (second["rows_new"], second["rows_unchanged"], second["dagster/row_count"]) == (0, 360, 360)
    assert all(store.utc_naive(hour) <= r[6] < store.utc_naive(hour + timedelta(hours=1)) for r in rows)
    assert first["pairs"] == {"BTC-USD": 180, "ETH-USD": 180}


def test_undecodable_records_are_counted_and_the_good_rows_written(resources, bootstrap, topics, hour, duckdb_path):
    records, _ = hour_of_trades(hour, minutes=10, spill=False)
    bad_at = hour + timedelta(minutes=5, seconds=59)
    records.insert(len(records) // 2, ("BTC-USD", b"\x12\x07garbage", bad_at))
    records.insert(len(records) // 2, ("BTC-USD", b"", bad_at))
    produce(bootstrap, topics.trades, records)
    meta = _meta(dg.materialize([trades], partition_key=partition_key(hour), resources=resources), "trades")
    assert meta["undecodable_records"] == 2 and "offset" in meta["first_undecodable"]
    assert meta["rows_new"] == len(records) - 2 - 2 * 3 * 2  # minus the bad ones and the two minutes before the hour
    assert len(_table(duckdb_path, "trades")) == meta["rows_new"]


def test_candles_partition_keeps_the_highest_revision_and_bars_closing_in_the_hour(resources, bootstrap, topics,
                                                                                   hour, duckdb_path):
    records = []
    for minute in range(-1, 61):
        start = hour + timedelta(minutes=minute)
        emitted = start + timedelta(minutes=1, seconds=30)
        records.append(("BTC-USD|1m", candle("BTC-USD", "1m", start, 10, 11, 9, 10.5, 2.0), emitted))
    # a late trade revised 10:07 twice; its revisions arrive later
    revised = hour + timedelta(minutes=7)
    records.append(("BTC-USD|1m", candle("BTC-USD", "1m", revised, 10, 12, 9, 11.5, 3.0, revision=2),
                    hour + timedelta(minutes=9)))
    records.append(("BTC-USD|1m", candle("BTC-USD", "1m", revised, 10, 11.5, 9, 11.0, 2.5, revision=1),
                    hour + timedelta(minutes=9, seconds=1)))
    four_hour = hour - timedelta(hours=3)  # 07:00-11:00 bar, closes at the end of the 10:00 hour
    records.append(("BTC-USD|4h", candle("BTC-USD", "4h", four_hour, 9, 13, 8, 12, 40.0, minutes=240),
                    hour + timedelta(hours=1, seconds=40)))
    records.sort(key=lambda r: r[2])
    produce(bootstrap, topics.candles, records)
    key = partition_key(hour)
    meta = _meta(dg.materialize([candles], partition_key=key, resources=resources), "candles")
    rows = _table(duckdb_path, "candles")
    dg.materialize([candles], partition_key=key, resources=resources)
    assert _table(duckdb_path, "candles") == rows
    assert meta["rows_by_timeframe"] == {"1m": 60, "4h": 1} and not meta["rebuilt_from_trades"]
    bar = next(store.CandleRow(*r) for r in rows if r[2] == store.utc_naive(revised))
    assert (bar.revision, bar.close) == (2, 11.5)


def test_signals_partition_upserts_on_strategy_params_pair_timeframe_candle(resources, bootstrap, topics, hour,
                                                                            duckdb_path):
    records = []
    for minute in range(0, 60, 10):
        at = hour + timedelta(minutes=minute)
        kind = strategy_pb2.SIGNAL_TYPE_BUY if minute % 20 == 0 else strategy_pb2.SIGNAL_TYPE_SELL
        value = signal("MACD_CROSSOVER", {"fast": 12, "slow": 26}, "BTC-USD", "1m", at, kind, 100.0 + minute)
        records.append(("BTC-USD", value, at + timedelta(minutes=1, seconds=2)))
        records.append(("BTC-USD", value, at + timedelta(minutes=1, seconds=3)))  # at-least-once duplicate
    produce(bootstrap, topics.signals, records)
    meta = _meta(dg.materialize([signals], partition_key=partition_key(hour), resources=resources), "signals")
    rows = _table(duckdb_path, "signals")
    assert meta["dagster/row_count"] == len(rows) == 6
    assert meta["signals_by_strategy"] == {"MACD_CROSSOVER": 6}
    assert {r[store.SIGNAL_TABLE_COLUMNS.index("signal_type")] for r in rows} == {"BUY", "SELL"}


def test_candles_are_rebuilt_from_duckdb_trades_when_the_topic_no_longer_holds_the_hour(
        resources, bootstrap, topics, hour, duckdb_path):
    records, ticks = hour_of_trades(hour, per_minute=2)
    produce(bootstrap, topics.trades, records)
    key = partition_key(hour)
    dg.materialize([trades], partition_key=key, resources=resources)
    # the topic once held candles of the hour, and retention deleted them
    produce(bootstrap, topics.candles, [("BTC-USD|1m", candle("BTC-USD", "1m", hour, 1, 2, 0.5, 1.5, 1.0),
                                         hour + timedelta(minutes=1, seconds=30))])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe"})
    ends = [TopicPartition(topics.candles, p, consumer.get_watermark_offsets(TopicPartition(topics.candles, p))[1])
            for p in range(3)]
    ends = [tp for tp in ends if tp.offset > 0]
    consumer.close()
    admin = AdminClient({"bootstrap.servers": bootstrap})  # held: its futures die with it
    for future in admin.delete_records(ends).values():
        future.result(30)
    meta = _meta(dg.materialize([candles], partition_key=key, resources=resources), "candles")
    assert meta["rebuilt_from_trades"] and not meta["kafka_range_complete"]
    end_ns = to_ns(hour + timedelta(hours=1))
    in_hour = [t for t in ticks if to_ns(hour) <= t.event_ns < end_ns]
    expected = reference_candles_for_ticks(in_hour, timeframes=["1m", "5m", "15m", "1h"], until_ns=end_ns,
                                           fill_cap_s=86400, from_ns=to_ns(hour))
    stored = {(r[0], r[1], r[2]): r for r in _table(duckdb_path, "candles")}
    assert len(stored) == len(expected) == 2 * (60 + 12 + 4 + 1)
    for bar in expected:
        row = stored[(bar.currency_pair, bar.timeframe, candle_record_row(bar, "batch")[2])]
        assert row[4:8] == (bar.open, bar.high, bar.low, bar.close) and row[14] == "batch"


def test_a_single_run_backfill_over_three_hours_fills_each_hour(resources, bootstrap, topics, hour, duckdb_path):
    records = []
    for h in range(3):
        batch, _ = hour_of_trades(hour + timedelta(hours=h), per_minute=1, spill=False, first_id=1000 * h)
        records += [(k, v, at) for k, v, at in batch if at >= hour + timedelta(hours=h)]
    produce(bootstrap, topics.trades, records)
    first, last = partition_key(hour), partition_key(hour + timedelta(hours=2))
    result = dg.materialize([trades], resources=resources, tags={"dagster/asset_partition_range_start": first,
                                                                 "dagster/asset_partition_range_end": last})
    assert sorted(e.partition for e in result.get_asset_materialization_events()) == [
        partition_key(hour + timedelta(hours=h)) for h in range(3)]
    with store.reader(duckdb_path) as con:
        per_hour = con.execute("SELECT date_trunc('hour', event_time) h, count(*) FROM trades GROUP BY h "
                               "ORDER BY h").fetchall()
    assert [n for _, n in per_hour] == [120, 120, 120]
