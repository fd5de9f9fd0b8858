"""The one bounded reader (``OffsetReader.read``) on the real broker: what every bounded read relies on."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka.admin import NewTopic

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import KafkaRangeError, OffsetReader, TopicMissing
from tradestream.settings import Settings


@pytest.fixture
def loaded(kafka: Settings) -> tuple[KafkaClientConfig, str]:
    """A one-partition topic holding the values b"0" .. b"9" and one record that is not a number."""
    cluster = KafkaClientConfig.from_settings(kafka.kafka)
    topic = f"offsets-{uuid.uuid4().hex[:8]}"
    admin = cluster.admin()
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    producer = cluster.producer({"enable.idempotence": True})
    for value in [b"0", b"1", b"2", b"not a number", b"3", b"4", b"5", b"6", b"7", b"8", b"9"]:
        producer.produce(topic, value)
    assert producer.flush(30) == 0
    return cluster, topic


def _number(message) -> int:
    return int(message.value())


def test_a_span_reads_exactly_its_offsets_and_counts_a_bad_record_without_hiding_the_good_ones(loaded):
    cluster, topic = loaded
    with OffsetReader(cluster, topic) as reader:
        read = reader.read({0: (2, 6)}, _number, deadline=time.monotonic() + 30)
    assert read.records == [2, 3, 4] and read.records_read == 4 and read.undecodable == 1
    assert read.first_error.startswith("partition 0 offset 3: ValueError")
    assert read.next_offsets == {0: 6}


def test_a_span_past_the_end_of_the_log_ends_where_the_log_does(loaded):
    cluster, topic = loaded
    with OffsetReader(cluster, topic) as reader:
        read = reader.read({0: (8, 50)}, _number, deadline=time.monotonic() + 30)
        again = reader.read({0: (read.next_offsets[0], 60)}, _number, deadline=time.monotonic() + 30)
    assert read.records == [7, 8, 9] and read.next_offsets == {0: 11}
    assert again.records == [] and again.next_offsets == {0: 11}


def test_a_read_past_its_deadline_names_the_topic_partition_and_offsets(loaded):
    cluster, topic = loaded
    with OffsetReader(cluster, topic) as reader, pytest.raises(KafkaRangeError) as caught:
        reader.read({0: (0, 11)}, _number, deadline=time.monotonic() - 1)
    assert f"reading {topic} timed out with partitions [0] at 0 of 0..11 unfinished" in str(caught.value)


def test_a_missing_topic_is_told_apart_from_an_unreachable_broker(kafka: Settings):
    with OffsetReader(KafkaClientConfig.from_settings(kafka.kafka), "no-such-topic-here") as reader, \
            pytest.raises(TopicMissing, match="'no-such-topic-here' cannot be read"):
        reader.partitions(5)
    with OffsetReader(KafkaClientConfig("127.0.0.1:1"), "trades") as reader, \
            pytest.raises(KafkaRangeError, match="cannot read the metadata of topic 'trades' at 127.0.0.1:1"):
        reader.partitions(1)
