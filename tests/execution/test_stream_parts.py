"""The execution stream's parts that need no broker: the input merge, the snapshot record, the records'
topics and keys, the accounts watcher and the configuration from the settings."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pytest

from streaming.execution.merge import RANK, EventTimeMerge, Fetched
from streaming.execution.records import ExecutionTopics, Input, decode, event_time_ns, output_records
from streaming.execution.snapshots import SnapshotError, StreamSnapshot
from streaming.execution.stream import AccountsWatcher, ExecutionConfig, ExecutionStreamError
from tests.execution.builders import account, allocation, close_of, config, executor, halt, signal, trade
from tradestream.execution import load_accounts
from tradestream.settings import ExecutionSettings, IngestionSettings, KafkaSettings, Settings
from tradestream.v1 import execution_pb2 as pb


def _record(kind: Input, time_s: int, topic: str, partition: int, offset: int) -> Fetched:
    return Fetched(time_s * 1_000_000_000, RANK[kind], topic, partition, offset, kind, f"{topic}{offset}")


class Kafka:
    """Which partitions Kafka still holds records of (the merge's question to the stream)."""

    def __init__(self, *behind: tuple[str, int]):
        self.behind = set(behind)

    def holds_back(self, key: tuple[str, int]) -> bool:
        return key in self.behind


def test_the_merge_takes_waiting_records_in_event_time_order_keeping_each_partitions_order():
    merge = EventTimeMerge()
    merge.reset([("trades", 0), ("trades", 1), ("signals", 0)])
    for r in (_record(Input.TRADE, 10, "trades", 0, 0), _record(Input.TRADE, 30, "trades", 0, 1),
              _record(Input.TRADE, 20, "trades", 1, 0), _record(Input.SIGNAL, 20, "signals", 0, 0),
              _record(Input.SIGNAL, 25, "signals", 0, 1)):
        merge.add(r)
    order = [(r.topic, r.partition, r.offset) for r in merge.ready(Kafka().holds_back)]
    # 10 s; at 20 s the trade before the signal; 25 s; 30 s
    assert order == [("trades", 0, 0), ("trades", 1, 0), ("signals", 0, 0), ("signals", 0, 1), ("trades", 0, 1)]
    assert merge.waiting() == 0


def test_an_empty_partition_kafka_holds_more_of_stops_the_merge_until_it_delivers():
    merge = EventTimeMerge()
    merge.reset([("trades", 0), ("signals", 0)])
    merge.add(_record(Input.TRADE, 100, "trades", 0, 0))
    merge.add(_record(Input.TRADE, 200, "trades", 0, 1))
    behind = Kafka(("signals", 0))
    assert list(merge.ready(behind.holds_back)) == []  # a signal at 50 s may be on its way
    merge.add(_record(Input.SIGNAL, 150, "signals", 0, 0))
    # the signal partition is empty again and still behind: only what is known to come first leaves
    assert [r.time_ns // 10**9 for r in merge.ready(behind.holds_back)] == [100, 150]
    assert merge.waiting() == 1
    assert [r.time_ns // 10**9 for r in merge.ready(Kafka().holds_back)] == [200]


def test_commands_leave_at_once_whatever_their_time():
    merge = EventTimeMerge()
    stuck = Kafka(("trades", 1))
    merge.reset([("trades", 0), ("trades", 1)])
    merge.add(_record(Input.TRADE, 10, "trades", 0, 0))
    merge.add(_record(Input.COMMAND, 10**9, "commands", 0, 0))
    assert [r.kind for r in merge.ready(stuck.holds_back)] == [Input.COMMAND]


def test_event_times_are_the_trades_and_the_signals_candle_close():
    t = close_of(3)
    assert event_time_ns(trade(100.0, t, "x")) == t.value
    assert event_time_ns(signal("BUY", 3, 100.0)) == close_of(3).value  # candle of minute 3 closes at its end
    assert event_time_ns(b"garbage") == 0 and event_time_ns(halt()) == 0


def test_undecodable_inputs_reach_the_executor_as_bytes_and_are_rejected():
    value = decode(Input.SIGNAL, b"\x00\xffnot a signal")
    assert isinstance(value, bytes)
    ex = executor()
    (event,) = ex.on_signal(value, close_of(0)).risk_events
    assert event.reason == pb.RISK_REASON_MALFORMED and ex.counters["rejected:RISK_REASON_MALFORMED"] == 1


def test_outputs_go_to_their_topics_keyed_as_the_proto_says():
    topics = ExecutionTopics.from_settings(KafkaSettings())
    ex = executor(account("a", allocations=[allocation()]))
    out = ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    records = list(output_records(out, topics))
    by_topic = {topic: key for topic, key, _ in records}
    order = out.orders[0]
    assert by_topic == {"orders": order.client_order_id.encode(), "fills": order.client_order_id.encode(),
                        "positions": order.allocation_id.encode(), "execution.state": b"a"}
    assert pb.Fill.FromString(next(v for t, _, v in records if t == "fills")) == out.fills[0]


def test_a_snapshot_round_trips_and_a_foreign_record_is_refused_by_name():
    ex = executor()
    ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    snapshot = StreamSnapshot(executor=ex.snapshot(), offsets={("signals", 2): 17, ("trades.x|y", 0): 5},
                              transactions=9)
    back = StreamSnapshot.decode(snapshot.encode())
    assert back == snapshot
    with pytest.raises(SnapshotError, match="not a zlib-compressed"):
        StreamSnapshot.decode(b"{}")
    with pytest.raises(SnapshotError, match="format 'other'"):
        StreamSnapshot.decode(zlib.compress(json.dumps({"format": "other"}).encode()))


def test_the_watcher_reloads_a_changed_file_and_keeps_the_running_config_on_a_bad_one(tmp_path: Path, caplog):
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts:\n  - name: a\n    cash: 1000\n")
    running = load_accounts(path)
    now = [0.0]
    watcher = AccountsWatcher(path, 5.0, clock=lambda: now[0])
    assert watcher.check(running) is None  # not due yet
    path.write_text("accounts:\n  - name: a\n    cash: -1\n")
    os.utime(path, ns=(1, 1))
    now[0] = 6.0
    assert watcher.check(running) is None and watcher.errors == 1
    assert "line 3" in caplog.text and "cash" in caplog.text
    path.write_text("accounts:\n  - name: a\n    cash: 2000\n")
    os.utime(path, ns=(2, 2))
    now[0] = 12.0
    assert watcher.check(running).accounts[0].cash == 2000


def test_the_clock_is_wall_when_live_or_ingesting_a_live_exchange_and_event_time_otherwise():
    def clock(mode: str, ingest: str) -> str:
        settings = Settings(execution=ExecutionSettings(mode=mode), ingestion=IngestionSettings(mode=ingest))
        return ExecutionConfig.from_settings(settings).clock

    assert clock("paper", "dry") == "event" and clock("paper", "replay") == "event"
    assert clock("paper", "wet") == "wall" and clock("live", "dry") == "wall"
    with pytest.raises(ExecutionStreamError, match="--start 'never'"):
        ExecutionConfig.from_settings(Settings(), start="never")


def test_paper_mode_trades_a_live_account_on_paper(tmp_path, caplog):
    from streaming.execution.stream import ExecutionStream

    accounts = config(account("x", mode="live"))
    stream = ExecutionStream(ExecutionConfig.from_settings(Settings(), accounts=tmp_path / "a.yaml"))
    assert stream._live_accounts(accounts) == ()
    assert "paper-trade" in caplog.text
