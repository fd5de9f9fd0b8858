"""The execution area in Dagster: the executor's outputs in DuckDB, the portfolio against the backtester's
equity, ``execution_matches_backtest`` passing on equal fills and naming a changed one, the kill switch
job answered by a running executor, and ``execution_stream`` started by the supervisor's asset.

The executor's outputs come from a day of simulated market: the strategy engine's signals for two
allocations run through the executor in process, and everything it emits is published to private
topics with Kafka timestamps at its event time, as the stream publishes it in dry mode. The
portfolio's equity is compared with ``run_backtest``'s equity curve (the backtester's own valuation),
which shares no code with ``tradestream.execution.portfolio``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from streaming.execution.commands import account_states
from streaming.kafka.clients import KafkaClientConfig
from tests.assets.conftest import partition_key
from tests.assets.records import produce
from tests.execution.builders import account, allocation, config, halt
from tests.execution.stream_harness import (
    ExecutorProcess,
    kafka_environment,
    private_settings,
    strategy_signals,
    timeline,
    write_accounts,
)
from tradestream import store
from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.engine import run_backtest
from tradestream.execution import Executor
from tradestream.strategies import evaluate, get_strategy
from tradestream.strategies.positions import BUY, SELL, trade_signals
from tradestream.strategies.synthetic import synthetic_candles
from tradestream_assets.execution.assets import fills, orders, portfolio, positions, risk_events
from tradestream_assets.execution.checks import execution_matches_backtest
from tradestream_assets.execution.jobs import hourly_portfolio, kill_switch, portfolio_job
from tradestream_assets.resources import DuckDBStore, ExchangeResource, KafkaResource, StreamSupervisor
from tradestream_assets.streams.assets import execution_stream

PAIR = "BTC-USD"
#: "a" is halted for four hours (its backtest must leave out the signals refused then); "b" trades all day.
ACCOUNTS = [account("a", 10_000, allocations=[allocation("DOUBLE_EMA_CROSSOVER", fees=0.001)]),
            account("b", 20_000, allocations=[
                allocation("DOUBLE_EMA_CROSSOVER", share=0.5, fees=0.001, slippage_bps=5.0, size=0.8),
                allocation("SMA_RSI", share=0.5, fees=0.0025)])]


@pytest.fixture(scope="module")
def private(kafka, tmp_path_factory):
    """Private execution topics and an accounts file, as the platform's settings (environment) see them."""
    settings = private_settings(kafka)
    accounts = write_accounts(tmp_path_factory.mktemp("accounts") / "accounts.yaml", ACCOUNTS)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in kafka_environment(settings).items():
            patch.setenv(name, value)
        patch.setenv("TRADESTREAM_EXECUTION_ACCOUNTS_FILE", str(accounts))
        yield settings


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    """The first twelve hours of yesterday's simulated market (inside the hourly partitions)."""
    start = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    return synthetic_candles(days=1, seed=41, start=start).iloc[:12 * 60]


def _publish_a_day(settings, day: pd.DataFrame) -> dict[str, list]:
    """The executor over the day in process, halted from 05:00 to 09:00; its outputs published at their event
    times. Returns them."""
    cfg = config(*ACCOUNTS)
    ex = Executor(cfg)
    out = {"orders": [], "fills": [], "positions": [], "risk_events": []}
    records = {name: [] for name in out}
    for record in timeline(strategy_signals({PAIR: day}, [(a.entry.strategy, PAIR) for a in cfg.allocations()])):
        at = pd.Timestamp(record.time_ns, unit="ns", tz="UTC").to_pydatetime()
        results = []
        if 5 <= at.hour < 9 and not ex.account_state("a").halted:
            results.append(ex.on_halt(halt("a", at=pd.Timestamp(at), command_id="h")))
        if at.hour >= 9 and ex.account_state("a").halted:
            results.append(ex.on_halt(halt("a", halt_=False, at=pd.Timestamp(at), command_id="r")))
        results.append(ex.on_signal(record.message, pd.Timestamp(at)))
        for result, name in ((r, n) for r in results for n in out):
            for message in getattr(result, name):
                out[name].append(message)
                records[name].append((message.account, message.SerializeToString(), at))
    k = settings.kafka
    topics = {"orders": k.orders_topic, "fills": k.fills_topic, "positions": k.positions_topic,
              "risk_events": k.risk_events_topic}
    for name, topic in topics.items():
        produce(k.bootstrap, topic, records[name])
    return out


def _candles_into_duckdb(path, day: pd.DataFrame) -> None:
    rows = pd.DataFrame({
        "currency_pair": PAIR, "timeframe": "1m", "window_start": day.index.tz_convert(None),
        "window_end": (day.index + pd.Timedelta(minutes=1)).tz_convert(None), "open": day["open"],
        "high": day["high"], "low": day["low"], "close": day["close"], "volume": day["volume"], "vwap": day["close"],
        "trade_count": 1, "filled": False, "revision": 0, "emitted_at": None, "source": "test"}).reset_index(drop=True)
    with store.writer(path) as con:
        store.upsert_candles(con, rows[list(store.CANDLE_TABLE_COLUMNS)])


def _resources(settings, duckdb_path, stream_home) -> dict:
    return {"kafka": KafkaResource(bootstrap_servers=settings.kafka.bootstrap),
            "duckdb": DuckDBStore(path=str(duckdb_path)), "supervisor": StreamSupervisor(home=str(stream_home))}


def _whole_day(day: pd.DataFrame) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: partition_key(day.index[0].to_pydatetime()),
            ASSET_PARTITION_RANGE_END_TAG: partition_key(day.index[-1].floor("h").to_pydatetime())}


def _backtest_equity(day: pd.DataFrame, strategy: str, cfg: BacktestConfig) -> pd.Series:
    params = get_strategy(strategy).validate_params({})
    actions = trade_signals(*evaluate(strategy, day, params))
    return run_backtest(day, (actions == BUY).to_numpy(), (actions == SELL).to_numpy(), cfg, timeframe="1m").equity


@pytest.fixture(scope="module")
def a_day_in_duckdb(private, day, tmp_path_factory):
    """The day's outputs materialized hour by hour into DuckDB from Kafka (one run), and its candles there.
    Shared by the tests of this module: only the last one changes DuckDB."""
    home = tmp_path_factory.mktemp("home")
    duckdb_path = home / "tradestream.duckdb"
    published = _publish_a_day(private, day)
    _candles_into_duckdb(duckdb_path, day)
    resources = _resources(private, duckdb_path, home)
    result = dg.materialize([orders, fills, positions, risk_events], resources=resources, tags=_whole_day(day))
    assert result.success
    return published, resources, duckdb_path


def test_the_executors_outputs_land_in_duckdb_hour_by_hour(a_day_in_duckdb):
    published, _, duckdb_path = a_day_in_duckdb
    with store.reader(duckdb_path) as con:
        stored_fills = con.execute("SELECT fill_id, price, size, fee FROM fills ORDER BY fill_id").fetchall()
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("orders", "positions", "risk_events")}
    expected = sorted((f.fill_id, f.price, f.size, f.fee) for f in published["fills"])
    assert stored_fills == expected and len(expected) > 40
    assert counts["orders"] == len({o.client_order_id for o in published["orders"]})
    assert counts["positions"] == len(published["positions"])
    # the halt, the resume and the signals refused in between: stored once each
    assert counts["risk_events"] == len({e.event_id for e in published["risk_events"]}) > 2


def test_the_portfolio_equals_the_backtesters_equity_and_sums_to_the_account(a_day_in_duckdb, day):
    _, resources, duckdb_path = a_day_in_duckdb
    result = dg.materialize([portfolio], resources=resources,
                            run_config={"ops": {"portfolio": {"config": {"lookback_hours": 13}}}})
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert "data:image/png;base64," in meta["chart"].value and "| b |" in meta["portfolio"].value
    with store.reader(duckdb_path) as con:
        rows = con.execute("SELECT * FROM portfolio ORDER BY allocation_id, time").df()
    assert meta["dagster/row_count"].value == len(rows) == (3 + 2) * len(day)
    rows = rows[rows["account"] == "b"]
    for alloc in config(*ACCOUNTS).allocations()[1:]:
        mine = rows[rows["allocation_id"] == alloc.id].set_index("time")["equity"]
        want = _backtest_equity(day, alloc.entry.strategy, alloc.backtest_config())
        # the backtester values each bar at its close; the portfolio stamps that value with the close's time
        np.testing.assert_allclose(mine.to_numpy(), want.to_numpy(), rtol=1e-9)
        assert (mine.index == (want.index + pd.Timedelta(minutes=1)).tz_convert(None)).all()
    total = rows[rows["allocation_id"] == "(account)"].set_index("time")["equity"]
    parts = rows[rows["allocation_id"] != "(account)"].groupby("time")["equity"].sum()
    np.testing.assert_allclose(total.to_numpy(), parts.to_numpy(), rtol=1e-12)
    # drawdown by hand: equity against its running peak
    np.testing.assert_allclose(rows[rows["allocation_id"] == "(account)"]["drawdown"].to_numpy(),
                               (total / total.cummax() - 1).to_numpy(), atol=1e-12)
    assert meta["equity b"].value == pytest.approx(total.iloc[-1], abs=0.01)


def test_the_kill_switch_job_halts_a_running_executor_and_resumes_it(private, tmp_path):
    settings = private
    accounts = write_accounts(tmp_path / "accounts.yaml", ACCOUNTS)
    executor = ExecutorProcess(settings, accounts, tmp_path / "executor.log").start()
    try:
        resources = {"kafka": KafkaResource(bootstrap_servers=settings.kafka.bootstrap)}
        for action, halted in (("halt", True), ("resume", False)):
            run = kill_switch.execute_in_process(resources=resources, run_config={"ops": {"kill_switch_command": {
                "config": {"action": action, "account": "a", "wait_s": 30}}}})
            assert run.success and run.output_for_node("kill_switch_command")["answers"] == 1
            states = account_states(KafkaClientConfig(settings.kafka.bootstrap),
                                    settings.kafka.account_states_topic).states
            assert states["a"].halted is halted
    finally:
        assert executor.stop() == 0


def test_execution_stream_starts_the_paper_executor_and_confirms_it_runs(private, stream_home, duckdb_path):
    resources = {**_resources(private, duckdb_path, stream_home), "exchange": ExchangeResource()}
    first = dg.materialize([execution_stream], resources=resources)
    (event,) = first.get_asset_materialization_events()
    started = {k: v.value for k, v in event.materialization.metadata.items()}
    assert started["action"] == "started"
    assert "-m streaming.execution --mode paper --accounts" in started["command"]
    again = dg.materialize([execution_stream], resources=resources)
    (event,) = again.get_asset_materialization_events()
    assert event.materialization.metadata["action"].value == "already running"
    assert event.materialization.metadata["pid"].value == started["pid"]


def _check(resources) -> dg.AssetCheckEvaluation:
    result = dg.materialize([portfolio, execution_matches_backtest], resources=resources,
                            selection=dg.AssetSelection.checks(execution_matches_backtest))
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_execution_matches_backtest_passes_on_candle_close_fills_and_names_a_changed_one(a_day_in_duckdb):
    published, resources, duckdb_path = a_day_in_duckdb
    good = _check(resources)
    assert good.passed, good.description
    # every hour of the day from the hour of each allocation's first fill on
    firsts = {}
    for f in published["fills"]:
        firsts[f.allocation_id] = min(firsts.get(f.allocation_id, f.fill_time.ToNanoseconds()),
                                      f.fill_time.ToNanoseconds())
    day_start = pd.Timestamp(min(firsts.values()), unit="ns").floor("D")
    hours = sum(12 - (pd.Timestamp(ns, unit="ns") - day_start) // pd.Timedelta(hours=1) for ns in firsts.values())
    assert good.metadata["allocation_hours"].value == hours
    assert good.metadata["legs_compared"].value > 40 and good.metadata["hours_failed"].value == 0
    fill = published["fills"][len(published["fills"]) // 2]
    with store.writer(duckdb_path) as con:
        con.execute("UPDATE fills SET price = price * (1 + 1e-7) WHERE fill_id = ?", [fill.fill_id])
    bad = _check(resources)
    assert not bad.passed and bad.metadata["hours_failed"].value >= 1
    assert "price" in bad.description and fill.allocation_id in bad.description


def test_hourly_portfolio_runs_portfolio_job_after_the_warehouse_hour():
    assert hourly_portfolio.job_name == portfolio_job.name and hourly_portfolio.cron_schedule == "20 * * * *"
    request = hourly_portfolio(dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 1, 1, 5, 20, tzinfo=UTC)))
    assert request.run_key == "portfolio:2026-01-01-05:20"
