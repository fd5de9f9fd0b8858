"""The platform end to end in dry mode: streams up and supervised, partitions fresh, backfills, restarts."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from streaming.supervisor.local import LocalProcessBackend
from tests.assets.records import wait_until
from tests.e2e.observe import latest_check, latest_materialization, latest_observation, runs_tagged
from tradestream import store
from tradestream.runtime import procs
from tradestream_assets.streams.specs import CAUSE_TAG, STREAM_NAMES, STREAM_TAG

pytestmark = pytest.mark.e2e

#: `make run` aims at healthy streams and fresh partitions within three minutes of the UI coming up. That is a
#: performance target: the test records the time to each goal (test-artifacts/e2e-make-run-timings.json) and
#: asserts that every goal is reached; NEVER_S only bounds the wait on a loaded 2-core machine.
THREE_MINUTES = 180.0
NEVER_S = 480.0


def _healthy(instance, name: str) -> bool:
    seen = latest_observation(instance, name)
    check = latest_check(instance, name, "stream_fresh")
    return bool(seen and seen.metadata.get("alive") and check and check[0])


def _fresh_partition(instance, asset: str, need_rows: bool) -> bool:
    """The current hour's partition was materialized (with rows, if asked) by this platform."""
    key = datetime.now(UTC).strftime("%Y-%m-%d-%H:00")
    seen = latest_materialization(instance, asset, key)
    return bool(seen and (seen.metadata.get("dagster/row_count", 0) > 0 or not need_rows))


def test_dry_mode_brings_up_healthy_streams_and_fresh_partitions(platform, artifacts_dir):
    instance = platform.instance()
    reached: dict[str, float] = {}
    goals = {
        **{f"{name} healthy": (lambda n=name: _healthy(instance, n)) for name in STREAM_NAMES},
        "candles partition with rows": lambda: _fresh_partition(instance, "candles", need_rows=True),
        "signals partition": lambda: _fresh_partition(instance, "signals", need_rows=False),
    }
    deadline = platform.ready_at + NEVER_S
    while len(reached) < len(goals) and time.monotonic() < deadline:
        for goal, done in goals.items():
            if goal not in reached and done():
                reached[goal] = time.monotonic() - platform.ready_at
        time.sleep(3)
    (artifacts_dir / "e2e-make-run-timings.json").write_text(json.dumps(
        {goal: round(reached.get(goal, -1), 1) for goal in goals}, indent=2))
    missing = [goal for goal in goals if goal not in reached]
    assert not missing, f"never reached within {NEVER_S:.0f} s of the UI coming up: {missing}; reached (s): " \
                        f"{reached}; log {platform.log}"
    print(f"make run goals reached (s after the UI came up; target {THREE_MINUTES:.0f} s): {reached}")


def test_a_killed_stream_is_restarted_by_the_supervisor_with_the_cause(platform, artifacts_dir):
    """The time from SIGKILL to the new process goes to test-artifacts/faults.jsonl (the sensor ticks
    every 30 s, then a run starts the stream: about a minute on an idle machine)."""
    backend = LocalProcessBackend(platform.home)
    instance = platform.instance()
    before = backend.status("trades_stream")
    assert before.alive
    killed_at = time.monotonic()
    os.killpg(before.pid, signal.SIGKILL)
    assert wait_until(lambda: not procs.pid_alive(before.pid), timeout=10)

    def restarted() -> bool:
        now = backend.status("trades_stream")
        return now.alive and now.pid != before.pid

    assert wait_until(restarted, timeout=240, interval=2), f"trades_stream was not restarted; {platform.log}"
    figures = {"fault": "ingestion process group SIGKILLed (make run, local supervisor)",
               "restarted_after_s": round(time.monotonic() - killed_at, 1), "load1": round(os.getloadavg()[0], 1)}
    with open(artifacts_dir / "faults.jsonl", "a") as out:
        out.write(json.dumps(figures) + "\n")
    runs = [r for r in runs_tagged(instance, CAUSE_TAG) if "trades_stream" in r.tags.get(STREAM_TAG, "").split(",")]
    causes = [r.tags[CAUSE_TAG] for r in runs]
    assert any("died: process is not running" in c for c in causes), causes


def _rows(path, start: datetime, end: datetime) -> list[tuple]:
    with store.reader(path) as con:
        return con.execute("SELECT * FROM trades WHERE event_time >= ? AND event_time < ? ORDER BY ALL",
                           [store.utc_naive(start), store.utc_naive(end)]).fetchall()


def _per_hour(path, start: datetime, end: datetime) -> list[int]:
    with store.reader(path) as con:
        return [n for _, n in con.execute(
            "SELECT date_trunc('hour', event_time) h, count(*) FROM trades WHERE event_time >= ? AND event_time < ? "
            "GROUP BY h ORDER BY h", [store.utc_naive(start), store.utc_naive(end)]).fetchall()]


def test_a_backfill_over_three_hours_fills_duckdb_and_a_second_one_leaves_identical_rows(platform):
    first, last = platform.historic_hours[0], platform.historic_hours[-1]
    keys = f"{first:%Y-%m-%d-%H:%M}...{last:%Y-%m-%d-%H:%M}"
    backfill = ("dagster", "asset", "materialize", "-m", "tradestream_assets.definitions", "--select", "trades",
                "--partition-range", keys)
    done = platform.cli(*backfill)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _rows(platform.duckdb, first, last + timedelta(hours=1))
    assert _per_hour(platform.duckdb, first, last + timedelta(hours=1)) == [platform.historic_trades_per_hour] * 3
    again = platform.cli(*backfill)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _rows(platform.duckdb, first, last + timedelta(hours=1)) == rows
    for hour in platform.historic_hours:
        seen = latest_materialization(platform.instance(), "trades", f"{hour:%Y-%m-%d-%H:%M}")
        assert seen and seen.metadata["rows_new"] == 0 and seen.metadata["undecodable_records"] == 0


def test_shutdown_on_ctrl_c_stops_dagster_and_every_stream(platform):
    backend = LocalProcessBackend(platform.home)
    pids = [backend.status(name).pid for name in STREAM_NAMES if backend.status(name).alive]
    assert pids, "no stream was running before Ctrl-C"
    platform.proc.send_signal(signal.SIGINT)
    assert platform.proc.wait(180) == 0, platform.log.read_text()[-2000:]
    assert not [p for p in pids if procs.pid_alive(p)]
    assert not procs.port_open(int(platform.url.rsplit(":", 1)[1]))
    assert "stopped stream trades_stream" in platform.log.read_text()
