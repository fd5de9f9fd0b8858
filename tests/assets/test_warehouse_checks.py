"""Checks on an hourly candles partition: OHLC invariants, no missing minutes, stream/batch parity."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from tests.assets.conftest import partition_key
from tests.assets.records import candle, produce, trade
from tests.assets.test_warehouse_assets import hour_of_trades
from tradestream import store
from tradestream.candles.model import TradeTick
from tradestream.candles.reference import reference_candles_for_ticks
from tradestream.v1 import market_pb2
from tradestream_assets.warehouse.assets import candles, trades
from tradestream_assets.warehouse.checks import no_missing_minutes, ohlc_invariants, stream_batch_parity
from tradestream_assets.warehouse.rebuild import candle_record_row, to_ns


def _store_candles(path, bars: list[tuple]) -> None:
    with store.writer(path) as con:
        store.upsert_candles(con, store.frame(bars, store.CANDLE_TABLE_COLUMNS))


def _bar(pair: str, start, o, h, lo, c, v=1.0, tf="1m", minutes=1) -> tuple:
    return store.candle_row(market_pb2.Candle.FromString(candle(pair, tf, start, o, h, lo, c, v, minutes=minutes)))


def _run_check(check, resources, hour) -> dg.AssetCheckEvaluation:
    """Materializes the candles partition (its topic holds nothing here, so the stored bars stay) and the check."""
    result = dg.materialize([candles, check], resources=resources, partition_key=partition_key(hour))
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_ohlc_invariants_pass_on_sound_bars_and_name_the_broken_one(resources, duckdb_path, hour):
    _store_candles(duckdb_path, [_bar("BTC-USD", hour + timedelta(minutes=m), 10, 11, 9, 10.5) for m in range(60)])
    assert _run_check(ohlc_invariants, resources, hour).passed
    _store_candles(duckdb_path, [_bar("ETH-USD", hour + timedelta(minutes=3), 10, 10.2, 9, 10.5)])  # close > high
    failed = _run_check(ohlc_invariants, resources, hour)
    assert not failed.passed and failed.metadata["violations"].value == 1
    assert "ETH-USD" in failed.metadata["examples"].value


def test_no_missing_minutes_passes_when_every_minute_has_a_bar_and_counts_the_gaps(
        resources, bootstrap, topics, duckdb_path, hour):
    records, _ = hour_of_trades(hour, per_minute=1, spill=False)
    produce(bootstrap, topics.trades, records)
    dg.materialize([trades], partition_key=partition_key(hour), resources=resources)
    bars = [_bar(pair, hour + timedelta(minutes=m), 10, 11, 9, 10.5) for pair in ("BTC-USD", "ETH-USD")
            for m in range(60)]
    _store_candles(duckdb_path, [b for b in bars if not (b[0] == "ETH-USD" and b[2].minute in (17, 18))])
    failed = _run_check(no_missing_minutes, resources, hour)
    assert not failed.passed
    assert failed.metadata["missing_by_pair"].value == {"ETH-USD": 2}
    _store_candles(duckdb_path, bars)
    assert _run_check(no_missing_minutes, resources, hour).passed


def _stream_like_candles(ticks, hour) -> list[tuple]:
    bars = reference_candles_for_ticks(ticks, timeframes=["1m"], until_ns=to_ns(hour + timedelta(hours=1)),
                                       fill_cap_s=86400, from_ns=to_ns(hour))
    return [candle_record_row(b, "stream") for b in bars]


def test_stream_batch_parity_passes_on_equal_bars_and_reports_a_differing_one(
        resources, bootstrap, topics, duckdb_path, hour):
    records, ticks = hour_of_trades(hour, per_minute=2, spill=False)
    produce(bootstrap, topics.trades, records)
    dg.materialize([trades], partition_key=partition_key(hour), resources=resources)
    in_hour = [t for t in ticks if t.event_ns >= to_ns(hour)]
    rows = _stream_like_candles(in_hour, hour)
    _store_candles(duckdb_path, rows)
    passed = _run_check(stream_batch_parity, resources, hour)
    assert passed.passed, passed.metadata["examples"].value
    assert passed.metadata["reference_candles"].value == 120
    wrong = list(rows[5])
    wrong[store.CANDLE_TABLE_COLUMNS.index("close")] += 0.01
    wrong[store.CANDLE_TABLE_COLUMNS.index("revision")] = 1
    _store_candles(duckdb_path, [tuple(wrong)])
    failed = _run_check(stream_batch_parity, resources, hour)
    assert not failed.passed and failed.metadata["mismatches"].value == 1
    assert "differs" in failed.metadata["examples"].value


def test_parity_leaves_out_trades_the_stream_dead_lettered_as_late(resources, bootstrap, topics, duckdb_path, hour):
    records, ticks = hour_of_trades(hour, per_minute=2, spill=False)
    late_at = hour + timedelta(minutes=20, seconds=30)
    late = trade("BTC-USD", "late-1", 1000.0, 5.0, late_at)  # would set minute 10:20's high if it counted
    produce(bootstrap, topics.trades, [*records, ("BTC-USD", late, late_at + timedelta(minutes=3))])
    dg.materialize([trades], partition_key=partition_key(hour), resources=resources)
    letter = market_pb2.DeadLetter(source="pipeline:candles", reason="late", detail="2 min after its window",
                                   payload=late, original_topic=topics.trades)
    produce(bootstrap, topics.dlq, [("BTC-USD", letter.SerializeToString(), late_at + timedelta(minutes=3))])
    _store_candles(duckdb_path, _stream_like_candles([t for t in ticks if t.event_ns >= to_ns(hour)], hour))
    evaluation = _run_check(stream_batch_parity, resources, hour)
    assert evaluation.passed, evaluation.metadata["examples"].value
    assert evaluation.metadata["late_trades_excluded"].value == 1


def test_parity_keeps_late_trades_for_bars_rebuilt_from_duckdb_trades(resources, bootstrap, topics, duckdb_path, hour):
    """A repaired trade the stream dead-lettered is in the bars the rebuild made: the reference counts it there."""
    records, ticks = hour_of_trades(hour, per_minute=2, spill=False)
    late_at = hour + timedelta(minutes=20, seconds=30)
    late = trade("BTC-USD", "late-1", 1000.0, 5.0, late_at)
    produce(bootstrap, topics.trades, [*records, ("BTC-USD", late, late_at + timedelta(minutes=3))])
    dg.materialize([trades], partition_key=partition_key(hour), resources=resources)
    letter = market_pb2.DeadLetter(source="pipeline:candles", reason="late", payload=late)
    produce(bootstrap, topics.dlq, [("BTC-USD", letter.SerializeToString(), late_at + timedelta(minutes=3))])
    in_hour = [t for t in ticks if t.event_ns >= to_ns(hour)]
    with_late = reference_candles_for_ticks(
        [*in_hour, TradeTick("simulator", "BTC-USD", "late-1", to_ns(late_at), 1000.0, 5.0)], timeframes=["1m"],
        until_ns=to_ns(hour + timedelta(hours=1)), fill_cap_s=86400, from_ns=to_ns(hour))
    _store_candles(duckdb_path, [candle_record_row(b, "batch") for b in with_late])
    evaluation = _run_check(stream_batch_parity, resources, hour)
    assert evaluation.passed, evaluation.metadata["examples"].value
    with store.writer(duckdb_path) as con:
        con.execute("DELETE FROM candles")
    _store_candles(duckdb_path, [candle_record_row(b, "stream") for b in with_late])   # the stream had it: wrong
    evaluation = _run_check(stream_batch_parity, resources, hour)
    assert not evaluation.passed and evaluation.metadata["mismatches"].value == 1
