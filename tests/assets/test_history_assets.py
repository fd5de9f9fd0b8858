"""The ``market_history`` asset (day x pair partitions) and its ``history_complete`` check, in process against the
REST stand-in; research reads live and imported candles through one reader and says which was which."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from tests.assets.conftest import partition_key
from tests.assets.records import produce, trade
from tests.assets.research_data import seed_candles
from tests.venues.coinbase.exchange_rest import NS, ExchangeRestStandIn, generate_product
from tradestream import store
from tradestream.backtest.candles import candle_sources
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.wire import encode_trades
from tradestream.v1 import market_pb2
from tradestream_assets.history.assets import market_history
from tradestream_assets.history.checks import history_complete, judge_day
from tradestream_assets.history.partitions import history_partitions
from tradestream_assets.research.backtest import backtest
from tradestream_assets.resources import DuckDBStore, HistoryResource, StreamSupervisor, platform_settings
from tradestream_assets.warehouse.assets import trades
from tradestream_assets.warehouse.rebuild import late_repairs

DAY1 = pd.Timestamp("2025-02-01", tz="UTC")
GAP = frozenset({4_002_000})   # on the second day


@pytest.fixture(scope="module")
def standin():
    btc = generate_product("BTC-USD", start_ns=DAY1.value - 600 * NS, end_ns=DAY1.value + 3 * 86_400 * NS,
                           mean_spacing_s=60, first_id=4_000_000, seed=21, missing=GAP)
    with ExchangeRestStandIn([btc]) as server:
        yield server


@pytest.fixture
def history_resources(standin, duckdb_path, stream_home, monkeypatch) -> dict:
    monkeypatch.setenv("TRADESTREAM_COINBASE_REST_RATE_PER_S", "1000")
    monkeypatch.setenv("TRADESTREAM_COINBASE_REST_BURST", "100")
    return {"duckdb": DuckDBStore(path=str(duckdb_path)), "history": HistoryResource(rest_url=standin.url),
            "supervisor": StreamSupervisor(home=str(stream_home))}


def materialize(resources, instance, key: str) -> dg.ExecuteInProcessResult:
    return dg.materialize([market_history, history_complete], partition_key=key, resources=resources,
                          instance=instance, raise_on_error=False)


def test_history_partitions_are_days_by_pair():
    dimensions = {d.name: d.partitions_def for d in history_partitions.partitions_defs}
    assert isinstance(dimensions["date"], dg.DailyPartitionsDefinition)
    assert "BTC-USD" in dimensions["pair"].get_partition_keys()


def test_a_partition_imports_its_day_and_the_check_lists_the_gaps_the_venue_has(history_resources, instance,
                                                                              duckdb_path):
    first = materialize(history_resources, instance, "2025-02-01|BTC-USD")
    assert first.success
    (mat,) = first.asset_materializations_for_node("market_history")
    meta = mat.metadata
    assert meta["trades"].value == meta["trades_new"].value == meta["dagster/row_count"].value > 1000
    assert meta["gaps"].value == 0 and meta["candles_written"].value > 1440
    (check,) = first.get_asset_check_evaluations()
    assert check.check_name == "history_complete" and check.passed
    assert check.metadata["missing_ids"].value == 0 and check.metadata["covered"].value

    second = materialize(history_resources, instance, "2025-02-02|BTC-USD")
    assert second.success
    (check,) = second.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "1 trade id(s) missing in 1 gap(s), each missing at the venue" in check.description
    assert "4002000" in check.metadata["gaps"].value

    again = materialize(history_resources, instance, "2025-02-01|BTC-USD")
    (mat,) = again.asset_materializations_for_node("market_history")
    assert mat.metadata["already_held"].value and mat.metadata["pages"].value == 0
    with store.reader(duckdb_path) as con:
        assert con.execute("SELECT count(*), count(DISTINCT trade_id) FROM trades").fetchone()[0] == \
            con.execute("SELECT count(DISTINCT trade_id) FROM trades").fetchone()[0]


def test_a_day_never_imported_fails_the_check_with_error_severity(duckdb_path):
    seed_candles(duckdb_path, ("BTC-USD",), DAY1, days=0.1)   # a store exists, the day was never imported
    with store.reader(duckdb_path) as con:
        verdict = judge_day(con, "coinbase", "BTC-USD", date(2025, 2, 3))
    assert not verdict.passed and verdict.severity == dg.AssetCheckSeverity.ERROR
    assert verdict.description == "the import did not fetch all of 2025-02-03"


def test_an_unknown_pair_fails_the_partition_naming_it(history_resources, instance):
    result = materialize(history_resources, instance, "2025-02-01|DOGE-USD")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "unknown product 'DOGE-USD'" in failure.event_specific_data.error.message


def test_backtests_read_history_and_live_candles_alike_and_show_which_range_came_from_where(
        history_resources, instance, duckdb_path):
    assert materialize(history_resources, instance, "2025-02-01|BTC-USD").success
    seed_candles(duckdb_path, ("BTC-USD",), DAY1 + pd.Timedelta(days=1), days=1)   # the live stream's next day
    runs = candle_sources(duckdb_path, "BTC-USD", "1m", "2025-02-01", "2025-02-02")
    assert [(r.source, r.bars) for r in runs.itertuples()] == [("history", 1440), ("stream", 1440)]
    config = {"strategy": "MACD_CROSSOVER", "parameters": {}, "pairs": ["BTC-USD"], "timeframe": "1m",
              "start": "2025-02-01", "end": "2025-02-02", "allow_gaps": True}
    result = backtest.execute_in_process(run_config={"ops": {"run_backtest_op": {"config": config}}},
                                         resources={k: history_resources[k] for k in ("duckdb", "supervisor")},
                                         instance=instance)
    (mat,) = result.asset_materializations_for_node("run_backtest_op")
    assert mat.metadata["sources"].value == "history, stream"
    table = mat.metadata["candle_sources"].value
    assert "| BTC-USD | history  | 2025-02-01 00:00:00 | 2025-02-01 23:59:00 |   1440 |" in table


def _repaired_trade(pair: str, trade_id: str, at, published) -> bytes:
    record = TradeRecord("coinbase", pair, trade_id, 100.0, 1.0, TakerSide.BUY, pd.Timestamp(at).value)
    return encode_trades([record], pd.Timestamp(published).value, repaired=True)[0]


def test_repaired_trades_the_stream_found_too_late_make_the_hour_rebuild_from_duckdb(resources, bootstrap, topics,
                                                                                     duckdb_path, hour):
    at = hour + timedelta(minutes=12)
    repaired, live = (market_pb2.Trade.FromString(trade("BTC-USD", i, 100.0, 1.0, at)) for i in ("41", "42"))
    repaired.repaired = True
    # repaired two hours after the trade (a long outage): its dead letter is written then, not near the hour
    much_later = hour + timedelta(hours=2, minutes=40)
    long_repaired = market_pb2.Trade.FromString(_repaired_trade("BTC-USD", "43", at, much_later))
    with store.writer(duckdb_path) as con:
        store.upsert_trades(con, store.frame([store.trade_row(t) for t in (repaired, live, long_repaired)],
                                             store.TRADE_TABLE_COLUMNS))
    settings = platform_settings(resources["kafka"])
    timeframes = settings.pipeline.timeframes

    def dead_letter(message: market_pb2.Trade, written) -> None:   # it reached the candle job after the lateness
        letter = market_pb2.DeadLetter(source="pipeline:candles", reason="late", payload=message.SerializeToString())
        produce(bootstrap, topics.dlq, [("BTC-USD", letter.SerializeToString(), written)])

    def count(start):
        return late_repairs(settings, duckdb_path, start, start + timedelta(hours=1), timeframes)

    dead_letter(live, at + timedelta(minutes=5))
    assert count(hour) == 0, "a live trade dead-lettered is the stream's own late data, not a repair"
    dead_letter(repaired, at + timedelta(minutes=5))
    assert count(hour) == 1
    dead_letter(long_repaired, much_later + timedelta(seconds=3))
    assert count(hour) == 2, "found up to the repair's publish time"
    assert count(hour + timedelta(days=2)) == 0, "no repaired trade there: Kafka is not even read"


def test_a_repair_published_after_its_hour_was_read_is_stored_by_the_next_hours_trades(resources, bootstrap, topics,
                                                                                       duckdb_path, hour):
    nxt = hour + timedelta(hours=1)
    late_at = hour + timedelta(minutes=50)
    published = nxt + timedelta(minutes=20)           # past the previous hour's read window (end + 5 min)
    produce(bootstrap, topics.trades, [
        ("BTC-USD", trade("BTC-USD", "1", 100.0, 1.0, nxt + timedelta(minutes=19)), nxt + timedelta(minutes=19)),
        ("BTC-USD", _repaired_trade("BTC-USD", "2", late_at, published), published),
        ("BTC-USD", trade("BTC-USD", "3", 100.0, 1.0, hour + timedelta(minutes=51)), published),  # live, not kept
    ])
    result = dg.materialize([trades], partition_key=partition_key(nxt), resources=resources)
    (mat,) = result.asset_materializations_for_node("trades")
    assert mat.metadata["late_repairs_by_hour"].value == {partition_key(hour): 1}
    with store.reader(duckdb_path) as con:
        rows = con.execute("SELECT trade_id, source, event_time FROM trades ORDER BY trade_id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("1", "stream"), ("2", "repair")]
    assert rows[1][2] == store.utc_naive(late_at)
