"""Results as protobuf BacktestResult and as rows of the DuckDB backtest_results table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.backtest.builders import WindowStrategy, window_prices
from tradestream.backtest import BacktestConfig, BacktestInputError, run_strategy
from tradestream.backtest.results import COLUMNS, BacktestRecord, result_rows, write_results
from tradestream.v1 import strategy_pb2


def _run(entry: int = 37, exit_: int = 83, fees: float = 0.001):
    return run_strategy(window_prices(), WindowStrategy(), {"entry_bar": entry, "exit_bar": exit_},
                        BacktestConfig(fees=fees), timeframe="1m")


def test_a_record_becomes_a_backtest_result_message() -> None:
    run = _run()
    record = BacktestRecord.from_run(run, pair="BTC-USD")
    message = strategy_pb2.BacktestResult.FromString(record.to_proto().SerializeToString())
    assert message.strategy.strategy == "TEST_WINDOW"
    assert {p.name: p.int_value for p in message.strategy.parameters} == {"entry_bar": 37, "exit_bar": 83}
    assert (message.currency_pair, message.timeframe, message.bars) == ("BTC-USD", "1m", 120)
    assert message.cumulative_return == run.metrics.total_return
    assert message.sharpe_ratio == run.metrics.sharpe
    assert message.max_drawdown == run.metrics.max_drawdown
    assert message.number_of_trades == 1 and message.strategy_score == run.metrics.score
    assert message.start.ToDatetime(tzinfo=UTC) == datetime(2024, 1, 1, tzinfo=UTC)
    assert message.end.ToDatetime(tzinfo=UTC) == datetime(2024, 1, 1, 2, 0, tzinfo=UTC)  # 120 bars, end exclusive


def test_rows_carry_every_column_of_the_table() -> None:
    row = BacktestRecord.from_run(_run(), pair="BTC-USD").to_row()
    assert list(row) == list(COLUMNS)
    assert row["params"] == '{"entry_bar": 37, "exit_bar": 83}'
    assert row["fees"] == 0.001 and row["stop_loss"] is None and row["kind"] == "backtest"


def test_writing_a_run_twice_keeps_one_row(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "results.duckdb"))
    first = BacktestRecord.from_run(_run(), pair="BTC-USD")
    assert write_results(con, [first]) == 1
    write_results(con, [BacktestRecord.from_run(_run(), pair="BTC-USD")])  # same inputs -> same run id
    write_results(con, [BacktestRecord.from_run(_run(entry=36), pair="BTC-USD")])  # other params -> new row
    rows = con.execute("SELECT run_id, strategy, currency_pair, sharpe, number_of_trades, start_time "
                       "FROM backtest_results ORDER BY run_id").fetchall()
    assert len(rows) == 2
    stored = next(r for r in rows if r[0] == first.run_id)
    assert stored[1:5] == ("TEST_WINDOW", "BTC-USD", first.metrics.sharpe, 1)
    assert pd.Timestamp(stored[5]) == pd.Timestamp("2024-01-01", tz="UTC")
    params = con.execute("SELECT params->>'$.exit_bar' FROM backtest_results WHERE run_id = ?", [first.run_id])
    assert params.fetchone()[0] == "83"


def test_orchestrator_run_ids_get_one_row_per_pair(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "results.duckdb"))
    rows = result_rows([("BTC-USD", _run()), ("ETH-USD", _run())], run_id="dagster-run-7")
    assert [r["run_id"] for r in rows] == ["dagster-run-7:BTC-USD", "dagster-run-7:ETH-USD"]
    write_results(con, rows)
    write_results(con, rows)  # a retried launch replaces its own rows
    assert con.execute("SELECT count(*) FROM backtest_results").fetchone()[0] == 2


def test_infinite_metrics_are_stored_as_infinity(tmp_path: Path) -> None:
    run = _run(fees=0.0)  # one winning trade, no losing one: profit factor is infinite
    assert np.isinf(run.metrics.profit_factor)
    con = duckdb.connect(str(tmp_path / "results.duckdb"))
    write_results(con, [BacktestRecord.from_run(run, pair="BTC-USD")])
    assert np.isinf(con.execute("SELECT profit_factor FROM backtest_results").fetchone()[0])


def test_rows_missing_a_metric_are_refused(tmp_path: Path) -> None:
    row = BacktestRecord.from_run(_run(), pair="BTC-USD").to_row()
    con = duckdb.connect(str(tmp_path / "results.duckdb"))
    with pytest.raises(BacktestInputError, match=r"lacks column\(s\) \['sharpe'\]"):
        write_results(con, [{k: v for k, v in row.items() if k != "sharpe"}])
    with pytest.raises(BacktestInputError, match="has sortino=nan"):
        write_results(con, [{**row, "sortino": float("nan")}])
    with pytest.raises(BacktestInputError, match="this run has no strategy name"):
        BacktestRecord.from_run(replace(_run(), strategy=None), pair="BTC-USD")
