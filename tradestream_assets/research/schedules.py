"""Nightly optimization, and a sensor that turns new walk-forward reports into a new live config.

When the live config file changes, the stream supervisor sees ``signals_stream`` running
an outdated config hash and restarts it with the new parameters ("config changed").
"""

import dagster as dg

from tradestream_assets.partitions import pair_partitions
from tradestream_assets.research.assets import walk_forward_report
from tradestream_assets.research.jobs import live_config_job, optimization_job

IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]


@dg.schedule(job=optimization_job, cron_schedule="0 2 * * *", execution_timezone="UTC", name="nightly_optimization",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="At 02:00 UTC, optimize and walk-forward every pair (one run per pair).")
def nightly_optimization(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [dg.RunRequest(run_key=f"nightly:{night}:{pair}", partition_key=pair,
                          tags={"tradestream/trigger": "nightly"}) for pair in pair_partitions.get_partition_keys()]


@dg.sensor(job=live_config_job, name="live_config_on_new_reports", minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="When walk-forward reports changed and no optimization still runs, rewrite the live config.")
def live_config_on_new_reports(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    records = context.instance.fetch_materializations(walk_forward_report.key, limit=1, ascending=False).records
    if not records:
        return dg.SkipReason("no walk-forward report yet")
    event = records[0]
    seen = int(context.cursor) if context.cursor else 0
    if event.storage_id <= seen:
        return dg.SkipReason("no new walk-forward report")
    running = context.instance.get_runs(dg.RunsFilter(job_name=optimization_job.name, statuses=IN_PROGRESS), limit=1)
    if running:
        return dg.SkipReason(f"optimization run {running[0].run_id[:8]} still in progress; waiting for all pairs")
    context.update_cursor(str(event.storage_id))
    return dg.RunRequest(run_key=f"live-config:{event.storage_id}", tags={"tradestream/trigger": "new reports"})
