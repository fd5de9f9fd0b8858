"""One look at a stream: is its job alive, how old is its newest output, how far behind is it.

Everything here is bounded by short timeouts: the supervisor sensor calls ``probe`` for
every stream on every tick and a tick must finish well inside Dagster's 60 s limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import KafkaRangeError, consumer_lag, newest_record
from streaming.supervisor.base import StreamStatus, SupervisorBackend
from tradestream.runtime.flink_rest import FlinkRestClient, active_jobs
from tradestream_assets.streams.specs import StreamProfile

PROBE_TIMEOUT_S = 4.0


@dataclass
class StreamHealth:
    name: str
    status: StreamStatus
    expected_hash: str
    newest_record_at: datetime | None = None
    newest_record_age_s: float | None = None
    output_records: int | None = None
    consumer_lag: int | None = None
    flink_job: dict | None = None
    problems: list[str] = field(default_factory=list)   # why the stream is not healthy, empty when it is
    probe_errors: list[str] = field(default_factory=list)

    @property
    def alive(self) -> bool:
        return self.status.alive

    @property
    def never_started(self) -> bool:
        return self.status.config_hash is None and not self.status.alive

    @property
    def config_drift(self) -> bool:
        return self.status.alive and self.status.config_hash not in (None, self.expected_hash)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def metadata(self) -> dict[str, dg.MetadataValue]:
        s = self.status
        meta: dict[str, dg.MetadataValue] = {
            "alive": dg.MetadataValue.bool(s.alive),
            "location": dg.MetadataValue.text(s.location or "not running"),
            "config_hash": dg.MetadataValue.text(s.config_hash or "none"),
            "expected_config_hash": dg.MetadataValue.text(self.expected_hash),
            "newest_record_age_s": (dg.MetadataValue.float(round(self.newest_record_age_s, 1))
                                    if self.newest_record_age_s is not None else dg.MetadataValue.null()),
            "consumer_lag": (dg.MetadataValue.int(self.consumer_lag) if self.consumer_lag is not None
                             else dg.MetadataValue.null()),
            "output_records": (dg.MetadataValue.int(self.output_records) if self.output_records is not None
                               else dg.MetadataValue.null()),
            "status": dg.MetadataValue.text("; ".join(self.problems) or "healthy"),
        }
        if s.pid is not None:
            meta["pid"] = dg.MetadataValue.int(s.pid)
        if s.started_at is not None:
            meta["uptime_s"] = dg.MetadataValue.float(round(time.time() - s.started_at, 1))
        if s.ui_url:
            meta["flink_ui"] = dg.MetadataValue.url(s.ui_url)
        if self.flink_job:
            meta["flink_job_id"] = dg.MetadataValue.text(self.flink_job.get("jid", ""))
            meta["flink_job_state"] = dg.MetadataValue.text(self.flink_job.get("state", ""))
        if s.log_path:
            meta["log"] = dg.MetadataValue.path(s.log_path)
        if s.last_log_lines:
            meta["last_log_lines"] = dg.MetadataValue.md("```\n" + "\n".join(s.last_log_lines[-10:]) + "\n```")
        if self.probe_errors:
            meta["probe_errors"] = dg.MetadataValue.text("; ".join(self.probe_errors))
        return meta


def flink_job_of(status: StreamStatus, timeout_s: float = 2.0) -> dict | None:
    """The session-cluster job this stream submitted: the newest running one started after the stream."""
    if not status.ui_url or not status.alive:
        return None
    started_ms = (status.started_at or 0) * 1000
    jobs = [j for j in active_jobs(FlinkRestClient(status.ui_url, timeout_s).jobs())
            if j.get("start-time", 0) >= started_ms - 5000]
    name_hint = status.name.removesuffix("_stream")
    preferred = [j for j in jobs if name_hint in j.get("name", "").lower()]
    pool = preferred or jobs
    return max(pool, key=lambda j: j.get("start-time", 0)) if pool else None


def probe(profile: StreamProfile, backend: SupervisorBackend, client: KafkaClientConfig, expected_hash: str,
          now: datetime | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> StreamHealth:
    now = now or datetime.now(UTC)
    status = backend.status(profile.name)
    health = StreamHealth(profile.name, status, expected_hash)
    if not status.alive:
        health.problems.append(status.detail or "not running")
    elif health.config_drift:
        health.problems.append(f"runs config {status.config_hash}, expected {expected_hash}")
    try:
        position = newest_record(client, profile.output_topic, timeout_s=timeout_s)
        health.output_records = position.records
        health.newest_record_at = position.newest_timestamp
        if position.newest_timestamp is not None:
            health.newest_record_age_s = max(0.0, (now - position.newest_timestamp).total_seconds())
    except KafkaRangeError as exc:
        health.probe_errors.append(str(exc))
    if profile.max_output_age_s is not None and status.alive:
        age = health.newest_record_age_s
        # a stream that started a moment ago gets the threshold's time to produce its first record
        grace = status.started_at is not None and time.time() - status.started_at < profile.max_output_age_s
        if age is None and not grace:
            health.problems.append(f"nothing on {profile.output_topic} yet")
        elif age is not None and age > profile.max_output_age_s and not grace:
            health.problems.append(f"newest record on {profile.output_topic} is {age:.0f} s old "
                                   f"(limit {profile.max_output_age_s:.0f} s)")
    if profile.consumer_group and profile.input_topic:
        try:
            health.consumer_lag = consumer_lag(client, profile.consumer_group, profile.input_topic,
                                               timeout_s=timeout_s)
        except KafkaRangeError as exc:
            health.probe_errors.append(str(exc))
        if profile.max_lag is not None and health.consumer_lag is not None and health.consumer_lag > profile.max_lag:
            health.problems.append(f"{health.consumer_lag} records behind on {profile.input_topic} "
                                   f"(limit {profile.max_lag})")
    try:
        health.flink_job = flink_job_of(status)
    except OSError as exc:
        health.probe_errors.append(f"Flink REST at {status.ui_url}: {exc}")
    return health
