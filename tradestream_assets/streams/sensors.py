"""The stream supervisor: every 30 s, look at each stream; start it when it never ran, restart it when it died.

It also sends the streams' alerts (``tradestream_assets.alerts.conditions.stream_alerts``: down,
lagging, restarts given up) through the ``alerts`` resource, repeated while they last and
resolved once when they clear.

Each tick probes every stream (job alive, newest output record, consumer lag) with short
timeouts, records an AssetObservation with those figures and the ``stream_fresh`` check
result, and requests a start run for a stream that never started, died, or runs an
outdated config. Start runs carry the ``tradestream/stream`` tag (one at a time per
stream, dagster.yaml) and the ``tradestream/restart-cause`` tag (visible in the Runs
list). Restarts back off exponentially and stop after ``max_restarts`` within
``window_s``, so a stream that cannot start does not restart forever; a stream that then
stays up for ``healthy_reset_s`` earns its budget back.
"""


import json
import time
from dataclasses import dataclass

import dagster as dg

from tradestream.alerts import AlertBook, send_due
from tradestream.backoff import exponential_delay
from tradestream_assets.alerts.conditions import stream_alerts
from tradestream_assets.resources import AlertsResource, ExchangeResource, KafkaResource, StreamSupervisor
from tradestream_assets.streams.assets import STREAM_ASSET_BY_NAME, streams_job
from tradestream_assets.streams.checks import check_evaluation, probe_stream
from tradestream_assets.streams.health import StreamHealth
from tradestream_assets.streams.specs import CAUSE_TAG, SIGNALS_STREAM, STREAM_TAG, live_config_path, stream_tag

ALERTS_CURSOR_KEY = "_alerts"  # beside the streams' restart memories in the cursor
IN_PROGRESS = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class RestartPolicy:
    backoff_base_s: float = 30.0
    backoff_max_s: float = 600.0
    max_restarts: int = 5
    window_s: float = 3600.0
    healthy_reset_s: float = 600.0

    def delay(self, attempts: int) -> float:
        """Wait before restart number ``attempts + 1``: none for the first, then base, 2*base, ... capped."""
        if attempts == 0:
            return 0.0
        return exponential_delay(attempts - 1, self.backoff_base_s, self.backoff_max_s)


POLICY = RestartPolicy()


@dataclass
class RestartDecision:
    restart: bool
    cause: str | None = None
    held_back: str | None = None     # why a needed restart is not requested now


def restart_cause(health: StreamHealth) -> str | None:
    """Why the stream needs a (re)start, or None when it runs as it should."""
    status = health.status
    if health.never_started:
        return "never started"
    if not status.alive:
        why = status.detail or "not running"
        if status.exit_code is not None:
            why += f" (exit code {status.exit_code})"
        last = next((line for line in reversed(status.last_log_lines) if any(c.isalnum() for c in line)), "")
        last = last.strip(" │╭╰╮╯─\t")[:120]
        return f"died: {why}" + (f"; last log line: {last}" if last else "")
    if health.config_drift:
        return f"config changed: runs {status.config_hash}, expected {health.expected_hash}"
    return None


def decide(health: StreamHealth, memory: dict, now: float, policy: RestartPolicy = POLICY) -> RestartDecision:
    """Whether to request a restart now. ``memory`` ({"restarts": [epoch s, ...]}) is updated in place."""
    restarts = [t for t in memory.get("restarts", []) if now - t < policy.window_s]
    status = health.status
    if status.alive and status.started_at and now - status.started_at >= policy.healthy_reset_s:
        restarts = []
    memory["restarts"] = restarts
    cause = restart_cause(health)
    if cause is None:
        return RestartDecision(False)
    if len(restarts) >= policy.max_restarts:
        return RestartDecision(False, cause, held_back=(
            f"restart cap reached: {len(restarts)} restarts within {policy.window_s / 60:.0f} min; fix the cause "
            f"and materialize {health.name} from the UI"))
    wait = policy.delay(len(restarts)) - (now - restarts[-1] if restarts else 0.0)
    if wait > 0:
        return RestartDecision(False, cause, held_back=f"backing off: next restart in {wait:.0f} s "
                                                       f"(attempt {len(restarts) + 1})")
    restarts.append(now)
    return RestartDecision(True, cause)


def _in_progress(instance: dg.DagsterInstance, name: str) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={stream_tag(name): "start"}, statuses=IN_PROGRESS), limit=1)
    return bool(runs)


def run_request(causes: dict[str, str], attempts: dict[str, int], now: float, home) -> dg.RunRequest:
    """One run starting every stream in ``causes`` (one run instead of one each: each run is a process)."""
    names = list(causes)
    selection = [dg.AssetKey(name) for name in names]
    if SIGNALS_STREAM in causes and not live_config_path(home).exists():
        selection.insert(0, dg.AssetKey("live_strategy_config"))
    cause = "; ".join(f"{name}: {why}" for name, why in causes.items()) if len(causes) > 1 else causes[names[0]]
    return dg.RunRequest(
        run_key=f"{'+'.join(names)}:{int(now)}", job_name=streams_job.name, asset_selection=selection,
        asset_check_keys=[],
        tags={STREAM_TAG: ",".join(names), CAUSE_TAG: cause[:250], **{stream_tag(n): "start" for n in names},
              "tradestream/restart-attempt": ",".join(str(attempts[n]) for n in names)})


@dg.sensor(name="stream_supervisor", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           jobs=[streams_job],
           description="Every 30 s: probe each stream (alive, newest output, lag), record observations and "
                       "freshness checks, and start streams that never ran, died or run an outdated config "
                       "(backed off, capped).")
def stream_supervisor(context: dg.SensorEvaluationContext, supervisor: StreamSupervisor,
                      exchange: ExchangeResource, kafka: KafkaResource, alerts: AlertsResource) -> dg.SensorResult:
    now = time.time()
    cursor = json.loads(context.cursor) if context.cursor else {}
    alert_settings = alerts.settings()
    book = AlertBook(cursor.pop(ALERTS_CURSOR_KEY, {}), alert_settings.repeat_after_s)
    active_alerts: list = []
    events: list = []
    causes: dict[str, str] = {}
    attempts: dict[str, int] = {}
    notes: list[str] = []
    for name in STREAM_ASSET_BY_NAME:
        health = probe_stream(name, supervisor, exchange, kafka)
        memory = cursor.setdefault(name, {})
        if _in_progress(context.instance, name):
            decision = RestartDecision(False, restart_cause(health), held_back="a start run is in progress")
        else:
            decision = decide(health, memory, now)
        metadata = health.metadata()
        metadata["restarts_in_window"] = dg.MetadataValue.int(len(memory.get("restarts", [])))
        if decision.held_back:
            metadata["restart_held_back"] = dg.MetadataValue.text(decision.held_back)
        events.append(dg.AssetObservation(asset_key=dg.AssetKey(name), metadata=metadata))
        events.append(check_evaluation(health))
        active_alerts += stream_alerts(health, decision.held_back)
        if decision.restart:
            context.log.info(f"requesting a start of {name}: {decision.cause}")
            causes[name] = decision.cause
            attempts[name] = len(memory["restarts"])
        elif decision.held_back:
            notes.append(f"{name}: " + "; ".join(x for x in (decision.cause, decision.held_back) if x))
    requests = [run_request(causes, attempts, now, supervisor.paths().home)] if causes else []
    for alert in send_due(alerts.sender(), book, active_alerts, STREAM_ASSET_BY_NAME, now):
        context.log.info(f"alert sent: {alert.title}")
    cursor[ALERTS_CURSOR_KEY] = book.memory
    return dg.SensorResult(run_requests=requests, asset_events=events, cursor=json.dumps(cursor),
                           skip_reason=None if requests else ("; ".join(notes) or "all streams healthy"))
