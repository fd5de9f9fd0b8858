"""The bounded reader of Kafka: records at known offsets, decoded, with a deadline.

Every bounded read of the platform goes through ``OffsetReader.read``: per partition a
span of offsets ``[first, stop)``, a decoder called once per record, and a deadline. What
it guarantees:

- records the decoder rejects (it raises, any exception) are counted, with the first
  error, and never stop the read: one corrupt record must not hide an hour of good ones;
- a partition is done at its stop offset, or where its log ends before it (the last
  offsets of a log can hold no record, e.g. transaction markers), never later;
- past the deadline the read fails with ``KafkaRangeError`` naming the topic, the
  partitions and the offsets it had reached;
- it reads ``read_committed`` and commits nothing: reading changes nothing in Kafka
  (the consumer group is a throw-away one unless the caller names one for its offsets).

Built on it: ``read_time_range`` (the records of ``[start, end)`` by Kafka timestamp, and
whether retention has deleted part of that range: ``complete``), and the probes the
supervisor sensor runs every 30 s, ``newest_record`` and ``consumer_lag``: watermark
offsets plus at most one record per partition, short timeouts, retried while the leaders
or the group coordinator of a new topic or group are being elected. The warehouse, the
warehouse rebuild, the signal job's history (``streaming.signals.history``) and the
candle follower (``streaming.candles.reader``) read through it as well.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import OFFSET_END, KafkaError, KafkaException, Message, TopicPartition

from streaming.kafka.clients import KafkaClientConfig

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("tradestream.rdkafka")

type Decoder[T] = Callable[[bytes | None, bytes | None], T]
"""``read_time_range``'s decoder: (key, value) -> record, raising for a record it cannot use."""


class KafkaRangeError(RuntimeError):
    """The topic could not be read (unknown topic, broker unreachable, read timed out)."""


class TopicMissing(KafkaRangeError):  # noqa: N818 - reads naturally at the call site
    """The broker answered, and the topic does not exist (or has no partitions)."""


@dataclass
class Records[T]:
    """What a read produced: the decoded records in log order per partition, and the bad ones counted."""

    records: list[T] = field(default_factory=list)
    records_read: int = 0                   # raw records in the spans, good and bad
    undecodable: int = 0
    first_error: str | None = None          # why the first undecodable record was rejected
    next_offsets: dict[int, int] = field(default_factory=dict)  # partition -> where its read ended


@dataclass(kw_only=True)
class RangeRead[T](Records[T]):
    """The records of ``topic`` whose Kafka timestamp lies in ``[start, end)``."""

    topic: str
    start: datetime
    end: datetime
    complete: bool = True                   # False: records that may belong to the range were deleted
    partitions: int = 0
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> [first, end) read
    seconds: float = 0.0


def epoch_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


#: Answers a broker gives while leaders and coordinators of a new topic or group are being elected.
_SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
             KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.COORDINATOR_LOAD_IN_PROGRESS}


def retriable(exc: KafkaException) -> bool:
    """Whether a broker call may succeed if retried: a retriable error, or an answer of a topic's leaders or a
    group's coordinator being elected (a new topic or group, a broker that just started)."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in _SETTLING)


def _left(deadline: float, cap: float = 10.0) -> float:
    """Seconds a broker call may take: what is left before ``deadline``, at most ``cap``, at least 0.5."""
    return max(0.5, min(cap, deadline - time.monotonic()))


def throwaway_group_prefix(purpose: str) -> str:
    """How the throw-away consumer groups of readers for ``purpose`` begin (the Kafka ACLs of a secured
    cluster grant them by this prefix, ``streaming.kafka.access``)."""
    return f"tradestream-{purpose}-"


class OffsetReader:
    """One consumer of ``topic`` that reads spans of offsets to their end; close it (or use ``with``).

    ``group_id`` names the consumer group whose committed offsets ``committed`` reports
    (the reader itself never commits); by default a throw-away group per reader.
    """

    def __init__(self, kafka: KafkaClientConfig, topic: str, *, purpose: str = "reader",
                 group_id: str | None = None):
        self.kafka = kafka
        self.topic = topic
        self._consumer = kafka.consumer(group_id or f"{throwaway_group_prefix(purpose)}{uuid.uuid4().hex[:12]}", {
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,   # a log ending before a span's stop offset ends the span
            "isolation.level": "read_committed",
            "socket.timeout.ms": 5000,
            "session.timeout.ms": 10000,
            "logger": _rdkafka_log,
        })

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> OffsetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ where things are

    def partitions(self, timeout_s: float = 10.0) -> list[int]:
        """The topic's partitions; TopicMissing when it does not exist, KafkaRangeError when Kafka does not answer."""
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=timeout_s)
        except KafkaException as exc:
            raise KafkaRangeError(f"cannot read the metadata of topic {self.topic!r} at {self.kafka.bootstrap}: "
                                  f"{exc}") from None
        info = metadata.topics.get(self.topic)
        if info is None or info.error is not None or not info.partitions:
            why = info.error if info is not None and info.error is not None else "no such topic"
            raise TopicMissing(f"topic {self.topic!r} cannot be read at {self.kafka.bootstrap}: {why}")
        return sorted(info.partitions)

    def watermarks(self, partition: int, deadline: float) -> tuple[int, int]:
        """(low, high) offsets, retrying while the partition has no leader yet (a topic created a moment ago)."""
        tp = TopicPartition(self.topic, partition)
        while True:
            try:
                return self._consumer.get_watermark_offsets(tp, timeout=_left(deadline))
            except KafkaException as exc:
                if not retriable(exc) or time.monotonic() >= deadline:
                    raise KafkaRangeError(f"watermarks of {self.topic}[{partition}] unavailable: {exc}") from None
                time.sleep(0.2)

    def offsets_at(self, partitions: Iterable[int], timestamp_ms: int, timeout_s: float = 10.0) -> dict[int, int]:
        """Per partition the first offset whose Kafka timestamp is at or after ``timestamp_ms``; -1 when none is."""
        try:
            found = self._consumer.offsets_for_times([TopicPartition(self.topic, p, timestamp_ms) for p in partitions],
                                                     timeout=timeout_s)
        except KafkaException as exc:
            raise KafkaRangeError(f"offsets_for_times on {self.topic!r} failed: {exc}") from None
        return {tp.partition: tp.offset for tp in found}

    def committed(self, partitions: Iterable[int], deadline: float) -> dict[int, int]:
        """The reader's group's committed offset per partition (negative: nothing committed)."""
        tps = [TopicPartition(self.topic, p) for p in partitions]
        while True:
            try:
                return {tp.partition: tp.offset for tp in self._consumer.committed(tps, timeout=_left(deadline))}
            except KafkaException as exc:
                # a group's coordinator is elected on first use; until then the broker says NOT_COORDINATOR
                if not retriable(exc) or time.monotonic() >= deadline:
                    raise KafkaRangeError(f"committed offsets of {self.topic!r} for this group unavailable: "
                                          f"{exc}") from None
                time.sleep(0.2)

    # ------------------------------------------------------------------ reading

    def read[T](self, spans: Mapping[int, tuple[int, int]], decode: Callable[[Message], T], *, deadline: float,
                into: Records[T] | None = None) -> Records[T]:
        """Reads ``[first, stop)`` of each partition in ``spans``, decoding every record.

        ``decode(message)`` returns what goes into ``records`` or raises for a record it cannot
        use (counted in ``undecodable``, the first error kept). ``into`` collects the result
        (what was read stays there when the deadline raises). ``next_offsets`` says where each
        partition's read ended: its stop, or the end of its log when that came first.
        """
        result: Records[T] = into if into is not None else Records()
        remaining = {p: stop for p, (first, stop) in spans.items() if stop > first}
        for p, (first, _stop) in spans.items():
            result.next_offsets[p] = first
        if not remaining:
            return result
        consumer = self._consumer
        consumer.assign([TopicPartition(self.topic, p, spans[p][0]) for p in remaining])

        def finish(partition: int, at: int) -> None:
            result.next_offsets[partition] = min(at, remaining.pop(partition))
            consumer.incremental_unassign([TopicPartition(self.topic, partition)])

        try:
            while remaining:
                if time.monotonic() > deadline:
                    unfinished = ", ".join(f"[{p}] at {result.next_offsets[p]} of {spans[p][0]}..{stop}"
                                           for p, stop in sorted(remaining.items()))
                    raise KafkaRangeError(f"reading {self.topic} timed out with partitions {unfinished} unfinished "
                                          f"({result.records_read} records read)")
                # consume() waits for a full batch (or its timeout): ask for no more than the spans still hold
                left = sum(stop - result.next_offsets[p] for p, stop in remaining.items())
                for message in consumer.consume(num_messages=max(1, min(5000, left)),
                                                timeout=min(1.0, _left(deadline, 1.0))):
                    p = message.partition()
                    stop = remaining.get(p)
                    if stop is None:
                        continue
                    error = message.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            raise KafkaRangeError(f"reading {self.topic}[{p}] failed: {error}")
                        if message.offset() >= result.next_offsets[p]:  # not an end reported before a re-assign
                            finish(p, message.offset())  # the log ends before the span does
                        continue
                    offset = message.offset()
                    if offset < result.next_offsets[p]:
                        continue  # fetched before a re-assign
                    if offset >= stop:
                        finish(p, stop)
                        continue
                    result.records_read += 1
                    result.next_offsets[p] = offset + 1
                    try:
                        result.records.append(decode(message))
                    except Exception as exc:  # noqa: BLE001 - any decoder failure marks the record as bad
                        result.undecodable += 1
                        if result.first_error is None:
                            result.first_error = f"partition {p} offset {offset}: {type(exc).__name__}: {exc}"
                    if offset + 1 >= stop:
                        finish(p, stop)
        finally:
            if remaining:
                consumer.incremental_unassign([TopicPartition(self.topic, p) for p in remaining])
        return result


# --------------------------------------------------------------------------- by time


def read_time_range[T](kafka: KafkaClientConfig, topic: str, start: datetime, end: datetime, decode: Decoder[T], *,
                       timeout_s: float = 120.0) -> RangeRead[T]:
    """Records of ``topic`` whose Kafka timestamp lies in ``[start, end)``, decoded.

    ``decode(key, value)`` returns the decoded record or raises (any exception) for a
    record it cannot use; those are counted in ``undecodable``. Raises KafkaRangeError
    when the topic is missing or the read does not finish within ``timeout_s``.
    """
    if end <= start:
        raise ValueError(f"time range [{start}, {end}) is empty; start must come before end")
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    result: RangeRead[T] = RangeRead(topic=topic, start=start, end=end)
    with OffsetReader(kafka, topic) as reader:
        partitions = reader.partitions(min(timeout_s, 10.0))
        result.partitions = len(partitions)
        firsts = reader.offsets_at(partitions, epoch_ms(start), min(timeout_s, 10.0))
        lasts = reader.offsets_at(partitions, epoch_ms(end), min(timeout_s, 10.0))
        spans: dict[int, tuple[int, int]] = {}
        for p in partitions:
            low, high = reader.watermarks(p, t0 + min(timeout_s, 10.0))
            # offset -1 (OFFSET_END): no record at or after that time, i.e. the range starts/ends past the log
            first = high if firsts[p] < 0 else firsts[p]
            last = high if lasts[p] < 0 else lasts[p]
            if low > 0 and first <= low:
                # the first retained record is already inside (or past) the range, and records before it
                # were deleted: some of those may have belonged to the range
                result.complete = False
            first = max(first, low)
            result.offsets[p] = (first, last)
            spans[p] = (first, last)
        try:
            reader.read(spans, lambda message: decode(message.key(), message.value()), deadline=deadline, into=result)
        except KafkaRangeError as exc:
            raise KafkaRangeError(f"{exc}; time range [{start}, {end})") from None
    result.seconds = time.monotonic() - t0
    return result


# --------------------------------------------------------------------------- probes for the supervisor


@dataclass
class TopicPosition:
    topic: str
    records: int                             # sum over partitions of (high - low)
    end_offsets: dict[int, int]
    newest_timestamp: datetime | None        # Kafka timestamp of the newest record, None for an empty topic


def _kafka_time_ms(message: Message) -> int:
    _kind, stamp = message.timestamp()
    return stamp


def newest_record(kafka: KafkaClientConfig, topic: str, timeout_s: float = 5.0) -> TopicPosition:
    """The newest record's timestamp over all partitions; reads at most one record per partition.

    A partition whose newest record does not arrive within ``timeout_s`` adds no timestamp.
    """
    deadline = time.monotonic() + timeout_s
    with OffsetReader(kafka, topic, purpose="probe") as reader:
        partitions = reader.partitions(timeout_s)
        end_offsets: dict[int, int] = {}
        total = 0
        spans = {}
        for p in partitions:
            low, high = reader.watermarks(p, deadline)
            end_offsets[p] = high
            total += high - low
            if high > low:
                spans[p] = (high - 1, high)
        stamps: Records[int] = Records()
        try:
            reader.read(spans, _kafka_time_ms, deadline=deadline, into=stamps)
        except KafkaRangeError as exc:
            log.debug("newest record of %s: %s", topic, exc)
    newest = max((stamp for stamp in stamps.records if stamp > 0), default=None)
    return TopicPosition(topic, total, end_offsets,
                         datetime.fromtimestamp(newest / 1000, UTC) if newest is not None else None)


def consumer_lag(kafka: KafkaClientConfig, group_id: str, topic: str, timeout_s: float = 5.0) -> int | None:
    """Records of ``topic`` the group has not committed yet; None when the group committed nothing."""
    with OffsetReader(kafka, topic, group_id=group_id) as reader:
        partitions = reader.partitions(timeout_s)
        deadline = time.monotonic() + timeout_s
        committed = reader.committed(partitions, deadline)
        lag = 0
        any_committed = False
        for p, offset in committed.items():
            _low, high = reader.watermarks(p, time.monotonic() + timeout_s)
            if offset >= 0 and offset != OFFSET_END:
                any_committed = True
                lag += max(0, high - offset)
            else:
                lag += high
        return lag if any_committed else None
