"""Materializing a stream asset starts its job or confirms it runs, and says where it runs."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.assets.records import wait_until
from tradestream.runtime import procs
from tradestream_assets.resources import ExchangeResource, StreamSupervisor
from tradestream_assets.streams.assets import candles_stream, signals_stream, trades_stream
from tradestream_assets.streams.checks import STREAM_CHECKS

LOOP = str(Path(__file__).with_name("loop_producer.py"))


def loop_command(bootstrap: str, topic: str) -> list[str]:
    return [sys.executable, LOOP, bootstrap, topic]


def _meta(result: dg.ExecuteInProcessResult, key: str) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key.path == [key]]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_trades_stream_starts_real_ingestion_then_confirms_it_runs(resources, bootstrap, topics):
    first = dg.materialize([trades_stream], resources=resources)
    started = _meta(first, "trades_stream")
    assert started["action"] == "started" and procs.pid_alive(started["pid"])
    assert "-m streaming.ingestion --mode dry" in started["command"]
    again = _meta(dg.materialize([trades_stream], resources=resources), "trades_stream")
    assert again["action"] == "already running"
    assert (again["pid"], again["config_hash"]) == (started["pid"], started["config_hash"])
    # the ingestion really publishes to the topic the supervisor watches
    from streaming.kafka.clients import KafkaClientConfig
    from streaming.kafka.ranges import newest_record

    assert wait_until(lambda: newest_record(KafkaClientConfig(bootstrap), topics.trades).records > 0, timeout=60)


def test_a_new_config_replaces_the_running_stream(resources):
    first = _meta(dg.materialize([trades_stream], resources=resources), "trades_stream")
    changed = {**resources, "exchange": ExchangeResource(products=["SOL-USD"])}
    second = _meta(dg.materialize([trades_stream], resources=changed), "trades_stream")
    assert second["action"] == "started" and second["replaced_other_config"]
    assert second["config_hash"] != first["config_hash"]
    assert not procs.pid_alive(first["pid"]) and procs.pid_alive(second["pid"])


def test_the_config_hash_is_the_streams_data_version(resources, bootstrap, topics, stream_home):
    supervisor = StreamSupervisor(home=str(stream_home),
                                  commands={"candles_stream": loop_command(bootstrap, topics.candles)})
    result = dg.materialize([candles_stream], resources={**resources, "supervisor": supervisor})
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.tags["dagster/data_version"] == _meta(result, "candles_stream")["config_hash"]


def test_a_stream_that_exits_at_start_fails_the_run_with_its_log(resources, stream_home):
    crash = [sys.executable, "-c", "import sys; print('cannot reach the job server'); sys.exit(3)"]
    supervisor = StreamSupervisor(home=str(stream_home), commands={"candles_stream": crash})
    with pytest.raises(dg.Failure, match="cannot reach the job server"):
        dg.materialize([candles_stream], resources={**resources, "supervisor": supervisor})


def test_signals_stream_refuses_to_start_without_the_live_config(resources):
    with pytest.raises(dg.Failure, match="live_strategy_config"):
        dg.materialize([signals_stream], resources=resources)


def _check_result(result: dg.ExecuteInProcessResult, asset: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.asset_key.path == [asset]]
    return evaluation


def test_freshness_check_fails_for_a_stream_that_never_ran_and_passes_for_a_fresh_one(
        resources, bootstrap, topics, stream_home):
    supervisor = StreamSupervisor(home=str(stream_home),
                                  commands={"candles_stream": loop_command(bootstrap, topics.candles)})
    res = {**resources, "supervisor": supervisor}
    check = dg.AssetSelection.checks_for_assets(candles_stream)
    never = _check_result(dg.materialize([candles_stream, *STREAM_CHECKS], selection=check, resources=res),
                          "candles_stream")
    assert never.check_name == "stream_fresh"
    assert not never.passed and "never started" in never.description
    dg.materialize([candles_stream], resources=res)
    from streaming.kafka.clients import KafkaClientConfig
    from streaming.kafka.ranges import newest_record

    assert wait_until(lambda: newest_record(KafkaClientConfig(bootstrap), topics.candles).records > 0, timeout=30)
    fresh = _check_result(dg.materialize([candles_stream, *STREAM_CHECKS], selection=check, resources=res),
                          "candles_stream")
    assert fresh.passed, fresh.description
    assert fresh.metadata["alive"].value is True and fresh.metadata["newest_record_age_s"].value < 30
