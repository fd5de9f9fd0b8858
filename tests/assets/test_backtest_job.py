"""The backtest job: typed config checked up front, results in DuckDB, metrics and equity chart as metadata."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from tests.assets.research_data import seed_candles
from tradestream import store
from tradestream_assets.research.backtest import backtest

START = pd.Timestamp("2026-11-01", tz="UTC")


def _config(**overrides) -> dict:
    config = {"strategy": "MACD_CROSSOVER", "parameters": {"fast": 10, "slow": 24}, "pairs": ["BTC-USD", "ETH-USD"],
              "timeframe": "1m", "start": "2026-11-01", "end": "2026-11-02", "fees": 0.001, "slippage_bps": 2.0}
    config.update(overrides)
    return {"ops": {"run_backtest_op": {"config": config}}}


def _run(research_resources, instance, **overrides) -> dg.ExecuteInProcessResult:
    return backtest.execute_in_process(run_config=_config(**overrides), resources=research_resources,
                                       instance=instance)


def test_backtest_stores_a_row_per_pair_and_shows_metrics_and_equity_chart(research_resources, instance,
                                                                           duckdb_path):
    seed_candles(duckdb_path, ("BTC-USD", "ETH-USD"), START, days=2)
    result = _run(research_resources, instance)
    assert result.success
    with store.reader(duckdb_path) as con:
        rows = con.execute("SELECT currency_pair, strategy, params, fees, slippage_bps, sharpe FROM backtest_results "
                           "ORDER BY currency_pair").fetchall()
    assert [r[:2] for r in rows] == [("BTC-USD", "MACD_CROSSOVER"), ("ETH-USD", "MACD_CROSSOVER")]
    assert '"fast": 10' in rows[0][2] and rows[0][3:5] == (0.001, 2.0)
    (materialization,) = result.asset_materializations_for_node("run_backtest_op")
    meta = materialization.metadata
    assert materialization.asset_key == dg.AssetKey("backtest_results")
    assert "| Sharpe |" in meta["metrics"].value and "BTC-USD" in meta["metrics"].value
    assert meta["equity_curve"].value.count("](data:image/png;base64,iVBOR") == 2
    assert meta["BTC-USD sharpe"].value == pytest.approx(rows[0][5], abs=1e-4)


@pytest.mark.parametrize(("overrides", "field", "says"), [
    ({"strategy": "MACD_CROSOVER"}, "strategy", "did you mean MACD_CROSSOVER"),
    ({"start": "2026-11-02", "end": "2026-11-01"}, "start/end", "is empty"),
    ({"parameters": {"fast": 100}}, "parameters", "fast=100"),
    ({"parameters": {"speed": 3}}, "parameters", "unknown parameter"),
    ({"timeframe": "2m"}, "timeframe", "'2m'"),
    ({"fees": 0.5}, "fees", "fees=0.5"),
    ({"pairs": ["btc"]}, "pairs", "BTC-USD"),
])
def test_a_bad_config_fails_at_once_naming_the_field(research_resources, instance, duckdb_path, overrides, field,
                                                      says):
    # no candles exist at all: the run must fail on the config, before it looks for data
    result = backtest.execute_in_process(run_config=_config(**overrides), resources=research_resources,
                                         instance=instance, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.user_failure_data.description
    assert f"backtest config field `{field}`" in message and says in message
    assert not duckdb_path.exists()
