"""Alerts reach a real HTTP webhook (a local server standing in for Slack or a paging service) through
Apprise's JSON notifier: a stream that died, lags or stopped being restarted, a failed check, a
halted account; repeated only after a while, resolved once."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest
from pydantic import SecretStr

from streaming.kafka.clients import KafkaClientConfig
from streaming.supervisor.base import StreamStatus
from tests.assets.conftest import create_topics
from tests.assets.records import wait_until
from tests.assets.test_stream_assets import loop_command
from tradestream.alerts import Alert, AlertBook, AlertSender
from tradestream.runtime import procs
from tradestream.settings import AlertSettings
from tradestream.v1 import execution_pb2 as pb
from tradestream_assets.alerts.conditions import stream_alerts
from tradestream_assets.alerts.sensors import account_halt_alerts, failed_check_alerts
from tradestream_assets.resources import AlertsResource, StreamSupervisor
from tradestream_assets.streams.assets import candles_stream
from tradestream_assets.streams.health import StreamHealth
from tradestream_assets.streams.sensors import stream_supervisor


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.posts: list[dict] = []

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server_address[1]}/alerts"

    def titles(self) -> list[str]:
        return [p["title"] for p in self.posts]


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append({**json.loads(body), "_path": self.path,
                                  "_content_type": self.headers.get("Content-Type")})
        self.send_response(200)
        self.end_headers()


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_alert_reaches_a_webhook_through_apprise(receiver):
    sender = AlertSender(AlertSettings(urls=[SecretStr(receiver.url)]))

    assert sender.send(Alert("stream_down", "candles_stream", "stream down: candles_stream", "exit code 137"))

    (post,) = receiver.posts
    assert post["_path"] == "/alerts" and post["_content_type"].startswith("application/json")
    assert post["title"] == "stream down: candles_stream"
    assert post["message"] == "exit code 137"
    assert post["type"] == "failure"


def test_no_urls_no_alerts_and_a_bad_url_is_refused_without_showing_it():
    assert not AlertSender(AlertSettings()).enabled
    with pytest.raises(ValueError, match="must look like scheme://") as refused:
        AlertSettings(urls=["hooks.slack.com/services/T000/B000/SECRET"])
    assert "SECRET" not in str(refused.value)


def test_a_lasting_condition_is_repeated_after_a_while_and_resolved_once():
    book = AlertBook({}, repeat_after_s=600)
    down = Alert("stream_down", "candles_stream", "stream down: candles_stream", "gone")

    assert book.due([down], ["candles_stream"], now=0) == [down]
    assert book.due([down], ["candles_stream"], now=300) == []
    assert book.due([down], ["candles_stream"], now=600) == [down]
    (resolved,) = book.due([], ["candles_stream"], now=700)
    assert resolved.severity == "resolved" and resolved.key == down.key
    assert book.due([], ["candles_stream"], now=800) == []
    # a condition watched by another sensor is not resolved by this one
    book.memory["check_failed:candles.candles_contiguous"] = 0
    assert book.due([], ["candles_stream"], now=900) == []


def _health(alive=True, problems=(), started=True) -> StreamHealth:
    status = StreamStatus("candles_stream", alive=alive, config_hash="abc" if started else None,
                          detail="" if alive else "pipeline submitter failed", exit_code=None if alive else 1,
                          last_log_lines=["KafkaException: broker down"])
    health = StreamHealth("candles_stream", status, expected_hash="abc")
    health.problems.extend(problems)
    return health


def test_which_stream_observations_are_alerts():
    assert [a.kind for a in stream_alerts(_health(), None)] == []
    (down,) = stream_alerts(_health(alive=False), None)
    assert down.kind == "stream_down" and "exit code 1" in down.body and "broker down" in down.body
    assert stream_alerts(_health(alive=False, started=False), None) == []  # never started: the supervisor starts it
    (lag,) = stream_alerts(_health(problems=["60000 records behind on trades (limit 50000)"]), None)
    assert lag.kind == "stream_lag" and lag.severity == "warning"
    (stale,) = stream_alerts(_health(problems=["newest record on candles is 400 s old (limit 210 s)"]), None)
    assert stale.kind == "stream_lag"
    capped = stream_alerts(_health(alive=False), "restart cap reached: 5 restarts within 60 min; fix the cause")
    assert [a.kind for a in capped] == ["stream_down", "restart_cap"]


def test_the_supervisor_alerts_a_killed_stream_once_and_resolves_it_when_it_runs_again(
        instance, resources, bootstrap, topics, stream_home, receiver):
    supervisor = StreamSupervisor(home=str(stream_home),
                                  commands={"candles_stream": loop_command(bootstrap, topics.candles)})
    res = {**resources, "supervisor": supervisor, "alerts": AlertsResource(urls=[receiver.url])}

    def tick(cursor):
        return stream_supervisor(dg.build_sensor_context(instance=instance, resources=res, cursor=cursor))

    dg.materialize([candles_stream], resources=res, instance=instance)
    status = supervisor.get_backend().status("candles_stream")
    first = tick(None)
    assert not [t for t in receiver.titles() if "candles_stream" in t]
    os.kill(status.pid, signal.SIGKILL)
    assert wait_until(lambda: not procs.pid_alive(status.pid), timeout=10)
    second = tick(first.cursor)
    third = tick(second.cursor)

    assert [t for t in receiver.titles() if "candles_stream" in t] == ["stream down: candles_stream"]
    dg.materialize([candles_stream], resources=res, instance=instance)  # the restart run
    tick(third.cursor)
    assert [t for t in receiver.titles() if "candles_stream" in t][-1] == "resolved: stream down candles_stream"


def test_a_failed_check_is_alerted(instance, receiver):
    resources = {"alerts": AlertsResource(urls=[receiver.url])}
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("candles"), check_name="candles_match_trades", passed=True))
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("candles"), check_name="candles_match_trades", passed=False,
        description="3 candles differ from the trades", metadata={"status": "BTC-USD 1m 12:00 volume"}))

    context = dg.build_sensor_context(instance=instance, resources=resources)
    failed_check_alerts(context)

    (post,) = receiver.posts
    assert post["title"] == "check failed: candles_match_trades on candles"
    assert "3 candles differ" in post["message"] and "BTC-USD 1m 12:00" in post["message"]
    # the cursor moved past them: the next tick sends nothing again
    failed_check_alerts(dg.build_sensor_context(instance=instance, resources=resources, cursor=context.cursor))
    assert len(receiver.posts) == 1


def test_a_halted_account_is_alerted_from_the_risk_events_and_resolved_when_resumed(
        instance, resources, bootstrap, receiver, monkeypatch):
    topic = f"risk.events-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic])
    monkeypatch.setenv("TRADESTREAM_KAFKA_RISK_EVENTS_TOPIC", topic)
    res = {"kafka": resources["kafka"], "alerts": AlertsResource(urls=[receiver.url])}
    producer = KafkaClientConfig.from_settings(resources["kafka"].kafka_settings()).producer()

    def publish(*events: pb.RiskEvent) -> None:
        for event in events:
            producer.produce(topic, key=event.account.encode(), value=event.SerializeToString())
        assert producer.flush(10) == 0

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, resources=res, cursor=cursor)
        account_halt_alerts(context)
        return context.cursor

    assert wait_until(lambda: tick(None) is not None, timeout=30)  # once the new topic is known
    cursor = tick(None)  # a new sensor starts at the end of the topic
    publish(pb.RiskEvent(event_id="1", kind=pb.RISK_EVENT_KIND_ORDER_DENIED, account="paper"),
            pb.RiskEvent(event_id="2", kind=pb.RISK_EVENT_KIND_STATUS_CHANGED, account="paper",
                         reason=pb.RISK_REASON_MAX_DRAWDOWN,
                         status=pb.ACCOUNT_STATUS_HALTED, detail="drawdown 21 % > 20 %"))
    cursor = tick(cursor)
    assert receiver.titles() == ["account halted: paper"]
    assert "drawdown 21 %" in receiver.posts[0]["message"]
    cursor = tick(cursor)
    assert len(receiver.posts) == 1  # not repeated within the hour
    publish(pb.RiskEvent(event_id="3", kind=pb.RISK_EVENT_KIND_RESUMED, account="paper",
                         status=pb.ACCOUNT_STATUS_ACTIVE))
    time.sleep(0.5)
    tick(cursor)
    assert receiver.titles() == ["account halted: paper", "resolved: account halted paper"]
