"""Follows the ``candles`` topic and keeps the final version of every candle.

The job publishes at-least-once: a candle can appear several times (revisions, and
re-emissions after a restart from a checkpoint). The record that counts for a
(pair, timeframe, window start) is the last one in its partition: records of one key
share a partition, so log order is emission order.

Each ``poll`` reads what the topic holds beyond the last poll, up to the end offsets of
that moment, with the bounded reader of ``streaming.kafka.ranges``: a new one per read,
since re-assigning one consumer's partitions in quick succession has known races in
librdkafka (confluentinc/librdkafka#871, #2190) and a new consumer has none. Used by the
end-to-end tests, the benchmarks and the warehouse rebuild (``read_final_candles``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Message

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import OffsetReader, TopicMissing
from tradestream.candles.codec import candle_from_proto
from tradestream.candles.model import CandleRecord
from tradestream.v1 import market_pb2

CandleKey = tuple[str, str, int]

#: How long one poll may take to read what it found (a backlog of a few hundred thousand candles).
READ_TIMEOUT_S = 60.0


@dataclass
class CandleSnapshot:
    final: dict[CandleKey, CandleRecord] = field(default_factory=dict)
    history: list[tuple[CandleRecord, int]] = field(default_factory=list)  # every record, with its Kafka time (ms)
    first_seen_ms: dict[tuple[CandleKey, int], int] = field(default_factory=dict)  # (key, revision) -> Kafka time
    undecodable: int = 0


def _candle_with_time(message: Message) -> tuple[CandleRecord, int]:
    _kind, timestamp_ms = message.timestamp()
    return candle_from_proto(market_pb2.Candle.FromString(message.value())), timestamp_ms


class CandleReader:
    """Follows ``candles`` from the beginning; ``poll`` folds new records into a snapshot."""

    def __init__(self, kafka: KafkaClientConfig, topic: str, *, keep_history: bool = False):
        self.topic = topic
        self.snapshot = CandleSnapshot()
        self._kafka = kafka
        self._keep_history = keep_history
        self._ends = OffsetReader(kafka, topic, purpose="candle-reader")  # asks where the partitions end
        try:
            partitions = self._ends.partitions(10.0)
        except TopicMissing:
            self._ends.close()
            raise ValueError(f"topic {topic!r} does not exist at {kafka.bootstrap}; "
                             "create it with `tradestream topics ensure`") from None
        except BaseException:
            self._ends.close()
            raise
        self._positions = dict.fromkeys(partitions, 0)

    def _new_spans(self, max_records: int) -> dict[int, tuple[int, int]]:
        deadline = time.monotonic() + 10.0
        spans = {}
        for partition, position in self._positions.items():
            _low, high = self._ends.watermarks(partition, deadline)
            if high > position:
                spans[partition] = (position, min(high, position + max_records))
        return spans

    def poll(self, timeout: float = 0.5, max_records: int = 10000) -> int:
        """Reads what is available (waiting up to ``timeout`` for something new); returns how many
        candles were read. A record that is not a Candle is counted in ``snapshot.undecodable``."""
        deadline = time.monotonic() + timeout
        spans = self._new_spans(max_records)
        while not spans and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            spans = self._new_spans(max_records)
        if not spans:
            return 0
        with OffsetReader(self._kafka, self.topic, purpose="candle-reader") as reader:
            read = reader.read(spans, _candle_with_time, deadline=time.monotonic() + READ_TIMEOUT_S)
        self._positions.update(read.next_offsets)
        self.snapshot.undecodable += read.undecodable
        for candle, timestamp_ms in read.records:
            self.snapshot.final[candle.key] = candle
            self.snapshot.first_seen_ms.setdefault((candle.key, candle.revision), timestamp_ms)
            if self._keep_history:
                self.snapshot.history.append((candle, timestamp_ms))
        return len(read.records)

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
        self._ends.close()

    def __enter__(self) -> CandleReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_final_candles(kafka: KafkaClientConfig, topic: str, idle_s: float = 2.0) -> dict[CandleKey, CandleRecord]:
    """The final version of every candle currently on ``topic`` (reads until idle for ``idle_s``)."""
    with CandleReader(kafka, topic) as reader:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            if reader.poll(timeout=0.5):
                quiet_since = time.monotonic()
        return dict(reader.snapshot.final)
