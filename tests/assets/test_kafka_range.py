"""Reading a topic by time range, and the supervisor's cheap probes, on the real broker."""

from __future__ import annotations

from datetime import timedelta

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import consumer_lag, newest_record, read_time_range
from tests.assets.records import produce, trade
from tradestream import store
from tradestream.v1 import market_pb2
from tradestream_assets.warehouse.assets import decode_trade


def _three_hours(bootstrap, topic, hour, bad_at_minute: int | None = None):
    records = []
    for i in range(180):  # one trade a minute from hour-1h to hour+2h
        at = hour - timedelta(hours=1) + timedelta(minutes=i)
        records.append(("BTC-USD", trade("BTC-USD", str(i), 100.0 + i, 1.0, at), at))
        if bad_at_minute is not None and i == 60 + bad_at_minute:
            records.append(("BTC-USD", b"\x0a\xff\xff not a trade", at))
    produce(bootstrap, topic, records)


def test_a_time_range_reads_exactly_its_records_and_counts_undecodable_ones(bootstrap, topics, hour):
    _three_hours(bootstrap, topics.trades, hour, bad_at_minute=30)
    read = read_time_range(KafkaClientConfig(bootstrap), topics.trades, hour, hour + timedelta(hours=1), decode_trade)
    times = sorted(r[6] for r in read.records)
    assert len(read.records) == 60 and read.undecodable == 1 and read.records_read == 61
    assert times[0] == store.utc_naive(hour) and times[-1] == store.utc_naive(hour + timedelta(minutes=59))
    assert "offset" in read.first_error and read.complete


def _loaded_partition(bootstrap, topic) -> int:
    (partition,) = [p for p, end in newest_record(KafkaClientConfig(bootstrap), topic).end_offsets.items() if end]
    return partition


def test_a_range_whose_records_were_deleted_is_reported_incomplete(bootstrap, topics, hour):
    _three_hours(bootstrap, topics.trades, hour)
    partition = _loaded_partition(bootstrap, topics.trades)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    # what retention does: drop everything before the middle of the hour
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "probe"})
    middle = consumer.offsets_for_times([TopicPartition(topics.trades, partition, int((hour + timedelta(minutes=30))
                                                                              .timestamp() * 1000))], timeout=10)
    consumer.close()
    for future in admin.delete_records(middle).values():
        future.result(30)
    read = read_time_range(KafkaClientConfig(bootstrap), topics.trades, hour, hour + timedelta(hours=1), decode_trade)
    later = read_time_range(KafkaClientConfig(bootstrap), topics.trades, hour + timedelta(hours=1),
                            hour + timedelta(hours=2), decode_trade)
    assert not read.complete and len(read.records) == 30
    assert later.complete and len(later.records) == 60


def test_newest_record_and_consumer_lag_are_read_from_watermarks(bootstrap, topics, hour):
    _three_hours(bootstrap, topics.trades, hour)
    position = newest_record(KafkaClientConfig(bootstrap), topics.trades)
    assert position.records == 180
    assert position.newest_timestamp == hour + timedelta(hours=2) - timedelta(minutes=1)
    assert consumer_lag(KafkaClientConfig(bootstrap), "never-committed", topics.trades) is None
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": "half-way"})
    partition = _loaded_partition(bootstrap, topics.trades)
    group.commit(offsets=[TopicPartition(topics.trades, partition, 100)], asynchronous=False)
    group.close()
    assert consumer_lag(KafkaClientConfig(bootstrap), "half-way", topics.trades) == 80


def test_decoder_rejects_records_lacking_required_fields():
    empty = market_pb2.Trade(currency_pair="BTC-USD").SerializeToString()
    try:
        decode_trade(b"BTC-USD", empty)
    except ValueError as exc:
        assert "trade_id" in str(exc)
    else:
        raise AssertionError("a trade without id and time must be rejected")
