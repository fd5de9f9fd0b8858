"""The DuckDB store: idempotent upserts on the documented keys, read-only readers."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest

from tests.assets.records import candle, signal, trade
from tradestream import store
from tradestream.v1 import market_pb2, strategy_pb2

T0 = datetime(2026, 3, 1, 10, 0)


def _trades(n: int, start: int = 0):
    return store.frame((store.trade_row(market_pb2.Trade.FromString(
        trade("BTC-USD", str(i), 100.0 + i, 0.5, T0 + timedelta(seconds=i)))) for i in range(start, start + n)),
        store.TRADE_TABLE_COLUMNS)


def _rows(path, table: str) -> list[tuple]:
    with store.reader(path) as con:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_trades_upserted_twice_leave_the_same_rows(tmp_path):
    path = tmp_path / "s.duckdb"
    with store.writer(path) as con:
        first = store.upsert_trades(con, _trades(50))
    before = _rows(path, "trades")
    with store.writer(path) as con:
        second = store.upsert_trades(con, _trades(60))  # 50 old + 10 new
    after = _rows(path, "trades")
    assert (first.rows_new, second.rows_new, second.rows_unchanged) == (50, 10, 50)
    assert set(before) <= set(after) and len(after) == 60


def test_duplicate_trades_within_one_batch_become_one_row(tmp_path):
    path = tmp_path / "s.duckdb"
    batch = _trades(5)
    with store.writer(path) as con:
        result = store.upsert_trades(con, pd.concat([batch, batch]))
    assert result.rows_in == 5 and len(_rows(path, "trades")) == 5


def test_candles_keep_the_highest_revision_whatever_the_order(tmp_path):
    path = tmp_path / "s.duckdb"

    def row(revision: int, close: float):
        return store.candle_row(market_pb2.Candle.FromString(
            candle("ETH-USD", "1m", T0, 10, 12, 9, close, 3.0, revision=revision)))

    with store.writer(path) as con:
        store.upsert_candles(con, store.frame([row(1, 11.0)], store.CANDLE_TABLE_COLUMNS))
        older = store.upsert_candles(con, store.frame([row(0, 10.5)], store.CANDLE_TABLE_COLUMNS))
        newer = store.upsert_candles(con, store.frame([row(2, 11.5), row(1, 11.0)], store.CANDLE_TABLE_COLUMNS))
    (stored,) = _rows(path, "candles")
    assert (older.rows_updated, newer.rows_updated) == (0, 1)
    assert stored[store.CANDLE_TABLE_COLUMNS.index("revision")] == 2
    assert stored[store.CANDLE_TABLE_COLUMNS.index("close")] == 11.5


def test_signals_are_keyed_on_strategy_params_pair_timeframe_and_candle(tmp_path):
    path = tmp_path / "s.duckdb"

    def row(params: dict, price: float):
        return store.signal_row(strategy_pb2.Signal.FromString(
            signal("MACD_CROSSOVER", params, "BTC-USD", "5m", T0, strategy_pb2.SIGNAL_TYPE_BUY, price)))

    with store.writer(path) as con:
        store.upsert_signals(con, store.frame([row({"fast": 12, "slow": 26}, 1.0),
                                               row({"slow": 26, "fast": 12}, 1.0),   # same params, other order
                                               row({"fast": 10, "slow": 26}, 1.0)], store.SIGNAL_TABLE_COLUMNS))
    rows = _rows(path, "signals")
    assert [r[1] for r in rows] == ['{"fast":10,"slow":26}', '{"fast":12,"slow":26}']
    assert rows[0][store.SIGNAL_TABLE_COLUMNS.index("candle_close")] == T0 + timedelta(minutes=5)


def test_readers_open_read_only_and_see_partition_bars_by_close(tmp_path):
    path = tmp_path / "s.duckdb"
    rows = [store.candle_row(market_pb2.Candle.FromString(candle("BTC-USD", "1m", T0 + timedelta(minutes=m),
                                                                 1, 2, 0.5, 1.5, 1.0))) for m in (-1, 0, 59, 60)]
    rows.append(store.candle_row(market_pb2.Candle.FromString(
        candle("BTC-USD", "4h", T0 - timedelta(hours=3), 1, 2, 0.5, 1.5, 1.0, minutes=240))))
    with store.writer(path) as con:
        store.upsert_candles(con, store.frame(rows, store.CANDLE_TABLE_COLUMNS))
    bars = store.read_candles(path, T0, T0 + timedelta(hours=1))
    # 10:00..10:59 1m bars close in (10:00, 11:00]; the 4h bar 07:00-11:00 closes at 11:00
    assert sorted(zip(bars["timeframe"], bars["window_start"].dt.strftime("%H:%M"), strict=True)) == [
        ("1m", "10:00"), ("1m", "10:59"), ("4h", "07:00")]
    with store.reader(path) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM candles")


def test_reading_a_store_that_does_not_exist_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.duckdb"):
        store.read_trades(tmp_path / "missing.duckdb", T0, T0 + timedelta(hours=1))


def test_incomplete_rows_are_refused_with_the_missing_field():
    with pytest.raises(ValueError, match="trade_id"):
        store.trade_row(market_pb2.Trade(currency_pair="BTC-USD"))


def test_each_table_holds_exactly_the_fields_of_its_row_type_in_order(tmp_path):
    with store.writer(tmp_path / "s.duckdb") as con:
        for table, row_type in (("trades", store.TradeRow), ("candles", store.CandleRow),
                                ("signals", store.SignalRow)):
            columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
            assert tuple(columns) == row_type._fields, table


def test_decoded_rows_are_named_records():
    row = store.trade_row(market_pb2.Trade.FromString(trade("BTC-USD", "7", 100.0, 0.5, T0)))
    assert (row.trade_id, row.event_time, row.taker_side) == ("7", pd.Timestamp(T0), "buy")


def test_a_repaired_trade_is_stored_with_its_source(tmp_path):
    live = market_pb2.Trade.FromString(trade("BTC-USD", "7", 100.0, 0.5, T0))
    repaired = market_pb2.Trade.FromString(trade("BTC-USD", "8", 101.0, 0.5, T0))
    repaired.repaired = True
    path = tmp_path / "s.duckdb"
    with store.writer(path) as con:
        store.upsert_trades(con, store.frame([store.trade_row(live), store.trade_row(repaired)],
                                             store.TRADE_TABLE_COLUMNS))
        assert con.execute("SELECT trade_id, source FROM trades ORDER BY trade_id").fetchall() == \
            [("7", "stream"), ("8", "repair")]
