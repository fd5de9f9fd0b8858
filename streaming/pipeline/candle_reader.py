"""Reads the ``candles`` topic and keeps the final version of every candle.

The job publishes at-least-once: a candle can appear several times (revisions, and
re-emissions after a restart from a checkpoint). The record that counts for a
(pair, timeframe, window start) is the last one in its partition: records of one key
share a partition, so log order is emission order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from tradestream.candles.codec import candle_from_proto
from tradestream.candles.model import CandleRecord
from tradestream.v1 import market_pb2

CandleKey = tuple[str, str, int]


@dataclass
class CandleSnapshot:
    final: dict[CandleKey, CandleRecord] = field(default_factory=dict)
    history: list[tuple[CandleRecord, int]] = field(default_factory=list)  # every record, with its Kafka time (ms)
    first_seen_ms: dict[tuple[CandleKey, int], int] = field(default_factory=dict)  # (key, revision) -> Kafka time
    undecodable: int = 0


class CandleReader:
    """Follows ``candles`` from the beginning; ``poll`` folds new records into a snapshot."""

    def __init__(self, bootstrap: str, topic: str, *, keep_history: bool = False,
                 client_config: Mapping[str, Any] | None = None):
        self.topic = topic
        self.snapshot = CandleSnapshot()
        self._keep_history = keep_history
        self._consumer = Consumer({**dict(client_config or {}), "bootstrap.servers": bootstrap,
                                   "group.id": f"candle-reader-{uuid.uuid4()}",
                                   "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                   "enable.partition.eof": False})
        metadata = self._consumer.list_topics(topic, timeout=10)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            self._consumer.close()
            raise ValueError(f"topic {topic!r} does not exist at {bootstrap}; "
                             "create it with `tradestream topics ensure`")
        self._consumer.assign([TopicPartition(topic, p, 0) for p in sorted(info.partitions)])

    def poll(self, timeout: float = 0.5, max_records: int = 10000) -> int:
        """Reads what is available (waiting up to ``timeout``); returns how many records were read."""
        messages = self._consumer.consume(num_messages=max_records, timeout=timeout)
        count = 0
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(error)
            try:
                candle = candle_from_proto(market_pb2.Candle.FromString(message.value()))
            except Exception:  # noqa: BLE001 - a foreign record on the topic is counted, not fatal
                self.snapshot.undecodable += 1
                continue
            count += 1
            _, timestamp_ms = message.timestamp()
            self.snapshot.final[candle.key] = candle
            self.snapshot.first_seen_ms.setdefault((candle.key, candle.revision), timestamp_ms)
            if self._keep_history:
                self.snapshot.history.append((candle, timestamp_ms))
        return count

    def wait_for(self, done: Callable[[CandleSnapshot], bool], timeout: float,
                 on_poll: Callable[[CandleSnapshot], None] | None = None) -> bool:
        """Polls until ``done(snapshot)`` holds; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll(timeout=0.5)
            if on_poll is not None:
                on_poll(self.snapshot)
            if done(self.snapshot):
                return True
            if time.monotonic() > deadline:
                return False

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> CandleReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_final_candles(bootstrap: str, topic: str, idle_s: float = 2.0,
                       client_config: Mapping[str, Any] | None = None) -> dict[CandleKey, CandleRecord]:
    """The final version of every candle currently on ``topic`` (reads until idle for ``idle_s``)."""
    with CandleReader(bootstrap, topic, client_config=client_config) as reader:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            if reader.poll(timeout=0.5):
                quiet_since = time.monotonic()
        return dict(reader.snapshot.final)
