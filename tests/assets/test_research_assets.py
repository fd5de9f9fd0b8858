"""Optimization -> walk-forward -> live strategy config, and the schedules and sensors that drive them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import yaml

from tests.assets.research_data import seed_candles
from tradestream import store
from tradestream.strategies.config import load_active_set
from tradestream_assets.partitions import pair_partitions
from tradestream_assets.research.assets import live_strategy_config, strategy_optimization, walk_forward_report
from tradestream_assets.research.schedules import live_config_on_new_reports, nightly_optimization
from tradestream_assets.streams.specs import live_config_path

START = pd.Timestamp("2026-10-01", tz="UTC")

OPTIMIZE = {"strategies": ["SMA_RSI"], "timeframe": "5m", "lookback_days": 6, "end": "2026-10-07", "fees": 0.0,
            "population": 8, "generations": 3}
# lenient thresholds: this test pins the plumbing (approval -> live config), not the synthetic market's edge
WALK = {"folds": 3, "min_oos_sharpe": -100.0, "max_degradation": 1e9, "min_folds": 1, "population": 6,
        "generations": 2}


def _optimize_and_validate(research_resources, instance, pair: str = "BTC-USD") -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [strategy_optimization, walk_forward_report], partition_key=pair, resources=research_resources,
        instance=instance,
        run_config={"ops": {"strategy_optimization": {"config": OPTIMIZE}, "walk_forward_report": {"config": WALK}}})


def test_approved_parameters_reach_the_live_config_with_their_provenance(research_resources, instance, duckdb_path,
                                                                         stream_home):
    seed_candles(duckdb_path, ("BTC-USD",), START, days=6, timeframe="5m")
    research = _optimize_and_validate(research_resources, instance)
    optimization = research.output_for_node("strategy_optimization")
    report = research.output_for_node("walk_forward_report")
    best = optimization["strategies"]["SMA_RSI"]["best_params"]
    assert report["strategies"]["SMA_RSI"]["passed"], report["strategies"]["SMA_RSI"]["reasons"]
    with store.reader(duckdb_path) as con:
        assert con.execute("SELECT kind, strategy FROM backtest_results").fetchall() == [("optimize", "SMA_RSI")]

    live = dg.materialize([live_strategy_config], resources=research_resources, instance=instance)
    path = live_config_path(stream_home)
    active, errors = load_active_set(path)
    assert not errors
    (entry,) = active.entries
    assert (entry.strategy, entry.params, entry.pairs, entry.timeframes) == ("SMA_RSI", best, ("BTC-USD",), ("5m",))
    (provenance,) = json.loads(path.with_name("active_strategies.provenance.json").read_text())
    assert provenance["optimization_run_id"] == research.run_id == provenance["walk_forward_run_id"]
    assert provenance["candles"] == ["2026-10-01T00:00:00+00:00", "2026-10-07T00:00:00+00:00"]
    (event,) = live.get_asset_materialization_events()
    assert event.materialization.metadata["source"].value == "walk-forward approvals"


def test_live_config_runs_a_documented_fallback_until_a_strategy_passes(research_resources, instance, stream_home):
    result = dg.materialize([live_strategy_config], resources=research_resources, instance=instance)
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["source"].value.startswith("fallback")
    document = yaml.safe_load(live_config_path(stream_home).read_text())
    assert {e["strategy"] for e in document["strategies"]} == {"MACD_CROSSOVER", "DOUBLE_EMA_CROSSOVER", "SMA_RSI",
                                                               "RSI_EMA_CROSSOVER"}
    assert all(e["pairs"] == "*" for e in document["strategies"])


def test_optimization_without_history_fails_naming_the_pair(research_resources, instance):
    result = dg.materialize([strategy_optimization], partition_key="ETH-USD", resources=research_resources,
                            instance=instance, raise_on_error=False,
                            run_config={"ops": {"strategy_optimization": {"config": OPTIMIZE}}})
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "no history to optimize ETH-USD" in failure.step_failure_data.user_failure_data.description


def test_nightly_schedule_runs_every_pair(instance):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 11, 20, 2,
                                                                                           tzinfo=UTC))
    requests = nightly_optimization(context)
    assert sorted(r.partition_key for r in requests) == sorted(pair_partitions.get_partition_keys())
    assert requests[0].run_key.startswith("nightly:2026-11-20:")
    assert nightly_optimization.job_name == "optimization_job"


def test_new_walk_forward_reports_trigger_one_live_config_rewrite(research_resources, instance, duckdb_path):
    assert isinstance(live_config_on_new_reports(dg.build_sensor_context(instance=instance)), dg.SkipReason)
    seed_candles(duckdb_path, ("BTC-USD",), START, days=6, timeframe="5m")
    _optimize_and_validate(research_resources, instance)
    context = dg.build_sensor_context(instance=instance)
    request = live_config_on_new_reports(context)
    assert isinstance(request, dg.RunRequest) and request.job_name in (None, "live_config_job")
    again = live_config_on_new_reports(dg.build_sensor_context(instance=instance, cursor=context.cursor))
    assert isinstance(again, dg.SkipReason)


def test_bias_checks_pass_on_the_fallback_live_config(research_resources, instance):
    from tradestream_assets.research.checks import no_lookahead, no_warmup_bias

    result = dg.materialize([live_strategy_config, no_lookahead, no_warmup_bias], resources=research_resources,
                            instance=instance)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {"no_lookahead", "no_warmup_bias"}
    for evaluation in evaluations.values():
        assert evaluation.passed, evaluation.description
        assert evaluation.metadata["entries_checked"].value == 4  # the four fallback strategies, defaults


def test_a_strategy_that_reads_the_next_candle_fails_no_lookahead(research_resources, instance, monkeypatch):
    """SMA_RSI with an extra condition on the next bar's close: the check names the comparison."""
    import tradestream.strategies as strategies
    from tradestream.strategies.expressions import CLOSE
    from tradestream.strategies.spec import StrategySpec
    from tradestream_assets.research.checks import no_lookahead

    original = strategies.get_strategy
    real = original("SMA_RSI")
    leaky = StrategySpec(real.name, real.description, real.space, real.entry & (CLOSE.prev(-1) > CLOSE), real.exit,
                         real.family)
    monkeypatch.setattr(strategies, "get_strategy", lambda name: leaky if name.upper() == "SMA_RSI" else original(name))
    result = dg.materialize([live_strategy_config, no_lookahead], resources=research_resources, instance=instance,
                            raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert "SMA_RSI lookahead" in evaluation.description and "close[-1 bars ago] > close" in evaluation.description
