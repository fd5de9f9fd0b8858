"""Reading what ingestion wrote: whole topics, decoded."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tradestream.ingest.trade import TradeRecord, trade_from_proto
from tradestream.settings import Settings
from tradestream.v1 import market_pb2


@pytest.fixture
def topics(kafka: Settings) -> Iterator[Settings]:
    """Settings whose trades and dead-letter topics are fresh and private to this test.

    Shared by the ingestion tests and the venues' end-to-end tests: each conftest imports it.
    """
    suffix = uuid.uuid4().hex[:10]
    trades, dlq = f"trades-{suffix}", f"trades.dlq-{suffix}"
    admin = AdminClient({"bootstrap.servers": kafka.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(trades, 3, 1), NewTopic(dlq, 1, 1)]).values():
        future.result(30)
    section = kafka.kafka.model_copy(update={"trades_topic": trades, "dlq_topic": dlq})
    yield kafka.model_copy(update={"kafka": section})
    for future in admin.delete_topics([trades, dlq]).values():
        with contextlib.suppress(KafkaException):  # cleanup of a per-test topic must not fail the test
            future.result(30)


@dataclass
class Record:
    key: str
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


def read_topic(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[Record]:
    """Every record in ``topic`` from the beginning up to its current end offsets."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "isolation.level": "read_committed"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p) for p in metadata.partitions]
        ends = {}
        for tp in partitions:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            ends[tp.partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        pending = {p for p, high in ends.items() if high > 0}
        out: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=1.0):
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consume error: {message.error()}")
                out.append(Record(message.key().decode() if message.key() else "", message.value(),
                                  dict(message.headers() or []), message.partition(), message.offset()))
                if message.offset() + 1 >= ends[message.partition()]:
                    pending.discard(message.partition())
        assert not pending, f"could not read {topic} partitions {pending} to their end within {timeout_s}s"
        return out
    finally:
        consumer.close()


def decode_trades(records: list[Record]) -> list[TradeRecord]:
    trades = []
    for record in records:
        message = market_pb2.Trade()
        message.ParseFromString(record.value)
        trades.append(trade_from_proto(message))
    return trades


def decode_dead_letters(records: list[Record]) -> list[market_pb2.DeadLetter]:
    letters = []
    for record in records:
        letter = market_pb2.DeadLetter()
        letter.ParseFromString(record.value)
        letters.append(letter)
    return letters
