"""Keeping the DuckDB partitions current.

``hourly_warehouse`` materializes the hour that just ended, once its late records had
time to arrive. ``fresh_partitions`` refreshes the current, still open hour when new
candles arrived (at most once a minute), so the newest rows appear in DuckDB (and in
the UI) within minutes of `make run` rather than at the next full hour.
"""


import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from streaming.kafka.ranges import KafkaRangeError, newest_record
from tradestream_assets.partitions import hourly_partitions
from tradestream_assets.resources import KafkaResource
from tradestream_assets.warehouse.assets import candles
from tradestream_assets.warehouse.jobs import warehouse_job

PARTITION_FORMAT = "%Y-%m-%d-%H:%M"
#: Refresh the open hour this often (seconds); TRADESTREAM_WAREHOUSE_REFRESH_S overrides.
DEFAULT_REFRESH_S = 60


def refresh_interval_s() -> int:
    return max(1, int(os.environ.get("TRADESTREAM_WAREHOUSE_REFRESH_S", DEFAULT_REFRESH_S)))


def hour_key(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0).strftime(PARTITION_FORMAT)


@dg.schedule(job=warehouse_job, cron_schedule="10 * * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING, name="hourly_warehouse",
             description="At :10 every hour, materialize the hour that just ended (late records had 10 minutes).")
def hourly_warehouse(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    scheduled = context.scheduled_execution_time or datetime.now(UTC)
    key = hour_key(scheduled - timedelta(hours=1))
    if key not in hourly_partitions.get_partition_keys(current_time=scheduled):
        return dg.SkipReason(f"hour {key} is before the first partition")
    return dg.RunRequest(run_key=f"hourly:{key}", partition_key=key, tags={"tradestream/trigger": "hourly"})


@dg.sensor(job=warehouse_job, name="fresh_partitions", minimum_interval_seconds=30,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Refresh the current hour's trades, candles and signals when new candles arrived, at most "
                       "once a minute (TRADESTREAM_WAREHOUSE_REFRESH_S).")
def fresh_partitions(context: dg.SensorEvaluationContext, kafka: KafkaResource) -> dg.RunRequest | dg.SkipReason:
    now = datetime.now(UTC)
    key = hour_key(now)
    interval = refresh_interval_s()
    event = context.instance.get_latest_materialization_event(candles.key)
    last = None
    if event is not None and event.asset_materialization and event.asset_materialization.partition == key:
        last = event.timestamp
    if last is not None and now.timestamp() - last < interval:
        return dg.SkipReason(f"hour {key} refreshed {now.timestamp() - last:.0f} s ago (every {interval} s)")
    runs = context.instance.get_runs(filters=dg.RunsFilter(job_name=warehouse_job.name, statuses=[
        dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED]), limit=1)
    if runs:
        return dg.SkipReason(f"a warehouse run ({runs[0].run_id[:8]}) is still in progress")
    # refresh when there is something new: a run is a process, and on a busy machine an empty one
    # right at start-up only delays the streams
    topic = kafka.kafka_settings().candles_topic
    try:
        newest = newest_record(kafka.client(), topic, timeout_s=4.0).newest_timestamp
    except KafkaRangeError as exc:
        return dg.SkipReason(f"cannot look at `{topic}`: {exc}")
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    if newest is None or newest < hour_start:
        return dg.SkipReason(f"no candles on `{topic}` in hour {key} yet")
    if last is not None and newest.timestamp() <= last:
        return dg.SkipReason(f"no new candles on `{topic}` since hour {key} was refreshed")
    slot = int(now.timestamp() // interval)
    return dg.RunRequest(run_key=f"fresh:{key}:{slot}", partition_key=key, tags={"tradestream/trigger": "fresh"})
