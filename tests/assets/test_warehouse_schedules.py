"""Keeping DuckDB current: the hourly schedule takes the hour just ended, the sensor refreshes the open hour."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from tests.assets.conftest import partition_key
from tests.assets.records import candle, produce
from tradestream_assets.warehouse.assets import candles
from tradestream_assets.warehouse.schedules import fresh_partitions, hour_key, hourly_warehouse


def test_hourly_schedule_materializes_the_hour_that_just_ended(instance):
    tick = datetime.now(UTC).replace(minute=10, second=0, microsecond=0) - timedelta(hours=5)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
    request = hourly_warehouse(context)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == partition_key(tick.replace(minute=0) - timedelta(hours=1))
    assert request.run_key == f"hourly:{request.partition_key}"
    assert hourly_warehouse.job_name == "warehouse_job"


def test_hourly_schedule_skips_hours_before_the_first_partition(instance):
    tick = datetime(2020, 1, 1, 0, 10, tzinfo=UTC)
    assert isinstance(hourly_warehouse(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)),
                      dg.SkipReason)


def test_fresh_partitions_refreshes_the_open_hour_when_new_candles_arrived(instance, resources, bootstrap,
                                                                          topics, monkeypatch):
    def tick():
        return fresh_partitions(dg.build_sensor_context(instance=instance, resources=resources))

    monkeypatch.setenv("TRADESTREAM_WAREHOUSE_REFRESH_S", "600")
    waiting = tick()
    assert isinstance(waiting, dg.SkipReason) and "no candles" in waiting.skip_message

    def new_candle() -> None:
        now = datetime.now(UTC)
        start = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
        produce(bootstrap, topics.candles, [("BTC-USD|1m", candle("BTC-USD", "1m", start, 1, 2, 0.5, 1.5, 1.0), now)])

    new_candle()
    first = tick()
    assert isinstance(first, dg.RunRequest) and first.partition_key == hour_key(datetime.now(UTC))
    dg.materialize([candles], partition_key=first.partition_key, resources=resources, instance=instance)
    recent = tick()
    assert isinstance(recent, dg.SkipReason) and "refreshed" in recent.skip_message
    monkeypatch.setenv("TRADESTREAM_WAREHOUSE_REFRESH_S", "1")
    time.sleep(1.2)
    nothing_new = tick()
    assert isinstance(nothing_new, dg.SkipReason) and "no new candles" in nothing_new.skip_message
    time.sleep(0.1)
    new_candle()
    assert isinstance(tick(), dg.RunRequest)
