"""The supervisor sensor: observations and checks every tick, starts and restarts with a cause, backed off."""

from __future__ import annotations

import json
import os
import signal
import time

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRun

from streaming.supervisor.base import StreamStatus
from tests.assets.records import wait_until
from tests.assets.test_stream_assets import loop_command
from tradestream.runtime import procs
from tradestream_assets.resources import StreamSupervisor
from tradestream_assets.streams.assets import candles_stream
from tradestream_assets.streams.health import StreamHealth
from tradestream_assets.streams.sensors import RestartPolicy, decide, stream_supervisor
from tradestream_assets.streams.specs import CAUSE_TAG, STREAM_TAG, stream_tag

STREAMS = ("trades_stream", "candles_stream", "signals_stream", "execution_stream")


def _tick(instance, resources, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
    return stream_supervisor(context)


def _requests(result: dg.SensorResult) -> dict[str, dg.RunRequest]:
    """The start request of each stream (one request may start several)."""
    return {name: r for r in result.run_requests for name in r.tags[STREAM_TAG].split(",")}


def test_streams_that_never_ran_are_started_in_one_run_with_the_cause_recorded(instance, resources):
    result = _tick(instance, resources)
    (request,) = result.run_requests
    assert request.job_name == "streams_job"
    assert request.tags[CAUSE_TAG] == ("trades_stream: never started; candles_stream: never started; "
                                       "signals_stream: never started; execution_stream: never started")
    # each stream's own tag key: the instance never runs two starts of one stream at once
    assert all(request.tags[stream_tag(n)] == "start" for n in STREAMS)
    # the first start of signals also writes the live strategy config it reads
    assert [k.to_user_string() for k in request.asset_selection] == ["live_strategy_config", *STREAMS]
    requests = _requests(result)
    observed = {e.asset_key.to_user_string() for e in result.asset_events if isinstance(e, dg.AssetObservation)}
    checks = [e for e in result.asset_events if isinstance(e, dg.AssetCheckEvaluation)]
    assert observed == set(requests) and len(checks) == 4 and not any(c.passed for c in checks)


def test_a_killed_stream_is_restarted_with_died_as_the_cause(instance, resources, bootstrap, topics, stream_home):
    supervisor = StreamSupervisor(home=str(stream_home),
                                  commands={"candles_stream": loop_command(bootstrap, topics.candles)})
    res = {**resources, "supervisor": supervisor}
    dg.materialize([candles_stream], resources=res, instance=instance)
    status = supervisor.get_backend().status("candles_stream")
    first = _tick(instance, res)
    assert "candles_stream" not in _requests(first)
    os.kill(status.pid, signal.SIGKILL)
    assert wait_until(lambda: not procs.pid_alive(status.pid), timeout=10)
    second = _tick(instance, res, cursor=first.cursor)
    request = _requests(second)["candles_stream"]
    assert request.tags[CAUSE_TAG].startswith("died: process is not running")
    assert request.asset_selection == [dg.AssetKey("candles_stream")]
    obs = next(e for e in second.asset_events
               if isinstance(e, dg.AssetObservation) and e.asset_key == dg.AssetKey("candles_stream"))
    assert obs.metadata["alive"].value is False and obs.metadata["restarts_in_window"].value == 1


def test_no_second_start_while_a_start_run_is_in_progress(instance, resources):
    instance.add_run(DagsterRun(job_name="streams_job", run_id="a" * 36,
                                tags={STREAM_TAG: "trades_stream", stream_tag("trades_stream"): "start"},
                                status=dg.DagsterRunStatus.STARTED))
    requests = _requests(_tick(instance, resources))
    assert "trades_stream" not in requests and "candles_stream" in requests


def _dead(name: str = "candles_stream") -> StreamHealth:
    return StreamHealth(name, StreamStatus(name, alive=False, config_hash="abc", detail="process is not running"),
                        expected_hash="abc")


def test_restarts_back_off_exponentially_and_stop_at_the_cap():
    policy = RestartPolicy(backoff_base_s=30, backoff_max_s=120, max_restarts=4, window_s=3600)
    memory: dict = {}
    now = 1_000_000.0
    granted = []
    for second in range(0, 1200, 5):
        if decide(_dead(), memory, now + second, policy).restart:
            granted.append(second)
    # immediately, then after 30, 60 and 120 s; then the cap holds
    assert granted == [0, 30, 90, 210]
    held = decide(_dead(), memory, now + 1300, policy)
    assert not held.restart and "restart cap reached" in held.held_back
    # an hour later the window has forgotten the old restarts
    assert decide(_dead(), memory, now + 3900, policy).restart


def test_a_stream_up_long_enough_earns_its_restart_budget_back():
    policy = RestartPolicy(max_restarts=1, healthy_reset_s=600)
    memory = {"restarts": [time.time() - 1000]}
    alive = StreamHealth("trades_stream", StreamStatus("trades_stream", alive=True, config_hash="abc",
                                                       started_at=time.time() - 900), expected_hash="abc")
    assert not decide(alive, memory, time.time(), policy).restart
    assert memory["restarts"] == []


def test_the_cursor_carries_restart_history_between_ticks(instance, resources):
    result = _tick(instance, resources)
    cursor = json.loads(result.cursor)
    assert set(cursor) == set(STREAMS) | {"_alerts"}
    assert all(len(v["restarts"]) == 1 for k, v in cursor.items() if k != "_alerts")


def test_new_live_parameters_restart_signals_stream_with_config_changed_as_cause(instance, resources, bootstrap,
                                                                                  topics, stream_home):
    from tradestream_assets.research.assets import live_strategy_config
    from tradestream_assets.streams.assets import signals_stream

    supervisor = StreamSupervisor(home=str(stream_home),
                                  commands={"signals_stream": loop_command(bootstrap, topics.signals)})
    res = {**resources, "supervisor": supervisor}
    dg.materialize([live_strategy_config], resources=res, instance=instance)
    dg.materialize([signals_stream], resources=res, instance=instance)
    assert "signals_stream" not in _requests(_tick(instance, res))
    dg.materialize([live_strategy_config], resources=res, instance=instance,
                   run_config={"ops": {"live_strategy_config": {"config": {"fallback_strategies": ["SMA_RSI"]}}}})
    request = _requests(_tick(instance, res))["signals_stream"]
    assert "signals_stream: config changed: runs " in request.tags[CAUSE_TAG]
