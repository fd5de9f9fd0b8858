"""Sensors that send alerts: a failed asset check, an account halted. (Streams down, lagging or no
longer restarted are alerted by the stream supervisor, which probes them anyway.)

Both read only what is new since their cursor, with short bounds, well inside a sensor tick.
"""

from __future__ import annotations

import json
import time

import dagster as dg

from streaming.kafka.ranges import KafkaRangeError, OffsetReader, TopicMissing
from tradestream.alerts import Alert, AlertBook, send_due
from tradestream.v1 import execution_pb2 as pb
from tradestream_assets.alerts.conditions import check_alert, halt_alert
from tradestream_assets.resources import AlertsResource, KafkaResource

MAX_EVENTS_PER_TICK = 200
READ_TIMEOUT_S = 10.0


@dg.sensor(name="failed_check_alerts", minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Every minute: an alert for every asset check that failed since the last tick "
                       "(the alerts resource: Slack, Telegram, e-mail, webhooks).")
def failed_check_alerts(context: dg.SensorEvaluationContext, alerts: AlertsResource) -> dg.SkipReason:
    # by time, not storage id: run-sharded storages (SQLite) number events per run
    cursor = json.loads(context.cursor) if context.cursor else {"ts": time.time() - 3600, "seen": []}
    records = context.instance.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_timestamp=cursor["ts"] - 1e-3),
        limit=MAX_EVENTS_PER_TICK, ascending=True)
    seen = set(cursor["seen"])
    new = [r for r in records if r.storage_id not in seen or r.event_log_entry.timestamp > cursor["ts"]]
    sender = alerts.sender()
    sent = 0
    for record in new:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if getattr(evaluation, "passed", True):
            continue
        metadata = getattr(evaluation, "metadata", {}) or {}
        status = metadata.get("status")
        details = str(getattr(status, "value", status)) if status is not None else ""
        alert = check_alert(evaluation.asset_key.to_user_string(), evaluation.check_name,
                            getattr(evaluation, "description", None), details)
        if sender.enabled and sender.send(alert):
            sent += 1
        context.log.info(f"alert: {alert.title}")
    if records:
        last_ts = records[-1].event_log_entry.timestamp
        cursor = {"ts": last_ts, "seen": [r.storage_id for r in records if r.event_log_entry.timestamp == last_ts]}
    context.update_cursor(json.dumps(cursor))
    return dg.SkipReason(f"{len(new)} check evaluations read, {sent} failure alerts sent")


@dg.sensor(name="account_halt_alerts", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Every 30 s: an alert when the executor halts an account (kill switch or risk limit), "
                       "read from the risk events topic; resolved when it resumes.")
def account_halt_alerts(context: dg.SensorEvaluationContext, kafka: KafkaResource,
                        alerts: AlertsResource) -> dg.SkipReason:
    cursor = json.loads(context.cursor) if context.cursor else {}
    topic = kafka.kafka_settings().risk_events_topic
    offsets: dict[str, int] = cursor.get("offsets", {})
    halted: dict[str, dict] = cursor.get("halted", {})  # account -> its last alert's title and body
    deadline = time.monotonic() + READ_TIMEOUT_S
    try:
        with OffsetReader(kafka.client(), topic, purpose="probe") as reader:
            spans = {}
            for partition in reader.partitions(READ_TIMEOUT_S):
                low, high = reader.watermarks(partition, deadline)
                # a new sensor starts at the end: it alerts on what happens from now on
                start = max(low, offsets.get(str(partition), high))
                if high > start:
                    spans[partition] = (start, min(high, start + MAX_EVENTS_PER_TICK))
                offsets[str(partition)] = start
            read = reader.read(spans, lambda m: pb.RiskEvent.FromString(m.value()), deadline=deadline)
    except TopicMissing:
        return dg.SkipReason(f"no {topic} topic yet (the execution stream has not run)")
    except KafkaRangeError as exc:
        return dg.SkipReason(f"could not read {topic}: {exc}")
    for partition, next_offset in read.next_offsets.items():
        offsets[str(partition)] = next_offset
    for event in read.records:
        alert = halt_alert(event)
        account = event.account or "every account"
        if alert is not None:
            halted[account] = {"title": alert.title, "body": alert.body}
        elif event.kind == pb.RISK_EVENT_KIND_RESUMED or (
                event.kind == pb.RISK_EVENT_KIND_STATUS_CHANGED and event.status != pb.ACCOUNT_STATUS_HALTED):
            halted.pop(account, None)
    settings = alerts.settings()
    book = AlertBook(cursor.get("book", {}), settings.repeat_after_s)
    active = [Alert("account_halted", account, a["title"], a["body"]) for account, a in halted.items()]
    known = {key.partition(":")[2] for key in book.memory} | set(halted)
    sent = send_due(alerts.sender(), book, active, known)
    context.update_cursor(json.dumps({"offsets": offsets, "halted": halted, "book": book.memory}))
    return dg.SkipReason(f"{len(read.records)} risk events read; {len(halted)} account(s) halted; "
                         f"{len(sent)} alert(s) sent")
