"""Kafka IO: restriction tracking, the watermark rules, and reading/writing a real broker."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from confluent_kafka import Consumer, TopicPartition

from streaming.candles.transforms import parse_trade
from streaming.kafka.beam import (
    KafkaRestriction,
    KafkaRestrictionTracker,
    PartitionClock,
    PartitionSpan,
    ReaderSettings,
    ReadFromKafka,
    WriteToKafka,
    reader_restrictions,
    reader_watermark,
)
from streaming.kafka.clients import KafkaClientConfig
from tests.pipeline.conftest import TradePublisher
from tradestream.candles.model import TradeTick
from tradestream.settings import Settings

FN_API = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
US = 1_000_000


def test_tracker_claims_forward_and_a_checkpoint_split_resumes_where_reading_stopped():
    tracker = KafkaRestrictionTracker(KafkaRestriction("t", (PartitionSpan(0, 10, None), PartitionSpan(1, 5, None))))
    assert tracker.try_claim((0, 10, True)) and tracker.try_claim((0, 12, True))  # offset 11: a transaction marker
    assert tracker.try_claim((1, 7, False))  # partition 1 is at its end at offset 7
    primary, residual = tracker.try_split(0)
    assert primary.spans == (PartitionSpan(0, 10, 13), PartitionSpan(1, 5, 7))
    assert residual.spans == (PartitionSpan(0, 13, None), PartitionSpan(1, 7, None))
    tracker.check_done()
    assert not tracker.try_claim((0, 13, True)), "nothing is claimed after the split"


def test_tracker_refuses_offsets_past_the_stop_and_reports_unread_ranges():
    tracker = KafkaRestrictionTracker(KafkaRestriction("t", (PartitionSpan(0, 0, 3),)))
    assert tracker.try_claim((0, 0, True))
    with pytest.raises(ValueError, match=r"t\[0\]: offsets 1..3 were not read"):
        tracker.check_done()
    assert not tracker.try_claim((0, 3, True)) and tracker.partition_done(0)
    with pytest.raises(ValueError, match="claimed after"):
        KafkaRestrictionTracker(KafkaRestriction("t", (PartitionSpan(0, 5, None),))).try_claim((0, 4, True))


def test_partitions_are_dealt_round_robin_to_readers():
    restrictions = reader_restrictions("t", {0: 0, 1: 0, 2: 0}, {0: None, 1: None, 2: None}, readers=2)
    assert [[s.partition for s in r.spans] for r in restrictions] == [[0, 2], [1]]


def wm(clocks, now=1_000.0, idle=5.0, live=120.0, lag=2 * US):
    return reader_watermark(clocks, lag_us=lag, now=now, idle_timeout_s=idle, live_horizon_s=live)


def test_watermark_is_the_slowest_busy_partition_minus_the_lag():
    assert wm({0: PartitionClock(100 * US), 1: PartitionClock(90 * US)}) == 88 * US


def test_watermark_waits_for_a_busy_partition_without_event_times():
    assert wm({0: PartitionClock(100 * US), 1: PartitionClock(None)}) is None


def test_an_idle_partition_does_not_hold_the_watermark_back():
    clocks = {0: PartitionClock(100 * US), 1: PartitionClock(20 * US, caught_up_since=990.0)}
    assert wm(clocks) == 98 * US
    clocks[1] = PartitionClock(20 * US, caught_up_since=997.0)  # caught up only 3 s ago: still counts
    assert wm(clocks) == 18 * US


def test_when_all_partitions_are_idle_the_newest_event_time_counts():
    clocks = {0: PartitionClock(100 * US, 900.0), 1: PartitionClock(90 * US, 900.0), 2: PartitionClock(None, 900.0)}
    assert wm(clocks) == 98 * US


def test_idle_live_data_lets_the_watermark_follow_the_wall_clock():
    clocks = {0: PartitionClock(995 * US, 996.0), 1: PartitionClock(990 * US, 990.0)}
    assert wm(clocks, now=1_002.0) == (1_002 - 5 - 2) * US
    assert wm(clocks, now=1_002.0, live=1.0) == 993 * US  # not live: stays at the newest event


@pytest.mark.e2e
def test_a_bounded_read_returns_every_record_once_with_event_times(topics: Settings, publisher: TradePublisher):
    base = 1_700_000_000 * 1_000_000_000
    trades = [TradeTick("x", f"P{i % 4}-USD", str(i), base + i * 1_000_000, 1.0 + i, 1.0) for i in range(300)]
    publisher.publish(trades)
    publisher.raw(b"P0-USD", b"\x00garbage")
    publisher.flush()
    reader = ReaderSettings(kafka=KafkaClientConfig.from_settings(topics.kafka), group_id="test", parse=parse_trade,
                            commit_offsets=False, emit_watermark=False, max_batch_records=50)
    expected = [(t.trade_id, t.event_ns // 1000) for t in trades] + [(None, None)]
    with TestPipeline(runner=FN_API) as p:
        records = (p | ReadFromKafka(topics.kafka.trades_topic, reader, start="earliest", stop="end")
                   | beam.FlatMap(lambda batch: batch.records))
        assert_that(records | beam.Map(lambda r: (_trade_id(r.value), r.event_us)), equal_to(expected))


def _trade_id(value: bytes) -> str | None:
    from tradestream.v1 import market_pb2
    try:
        return market_pb2.Trade.FromString(value).trade_id or None
    except Exception:  # noqa: BLE001
        return None


@pytest.mark.e2e
def test_write_to_kafka_delivers_every_pair_with_its_key(topics: Settings):
    topic = topics.kafka.candles_topic
    pairs = [(f"k{i % 3}".encode(), f"v{i}".encode()) for i in range(50)]
    with TestPipeline(runner=FN_API) as p:
        _ = p | beam.Create(pairs) | WriteToKafka(topic, KafkaClientConfig.from_settings(topics.kafka))
    consumer = Consumer({"bootstrap.servers": topics.kafka.bootstrap, "group.id": "verify", "auto.offset.reset":
                         "earliest", "enable.partition.eof": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(topics.kafka.topic_partitions)])
    got = []
    for _ in range(40):
        got += [(m.key(), m.value()) for m in consumer.consume(100, timeout=0.5) if m.error() is None]
        if len(got) >= len(pairs):
            break
    consumer.close()
    assert sorted(got) == sorted(pairs)
