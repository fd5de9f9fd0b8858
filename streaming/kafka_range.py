"""Reading Kafka by time: the records of a time range, the newest record, a group's lag.

``read_time_range`` turns ``[start, end)`` into offsets per partition with
``offsets_for_times`` and reads exactly those offsets, decoding each record with the
caller's decoder. Records the decoder rejects are counted (with the first error), not
raised: one corrupt record must not hide an hour of good ones. It also says whether the
topic still holds the whole range: when retention (or ``delete_records``) removed
records that may have fallen inside it, ``complete`` is False and the caller rebuilds
the range from elsewhere.

``newest_record`` and ``consumer_lag`` are the cheap probes the supervisor sensor runs
every 30 s: watermark offsets plus at most one record per partition, all with short
timeouts, so a sensor tick never blocks on a slow broker.

Range reads use a throw-away consumer group that never commits: reading a range
changes nothing in Kafka.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("tradestream.rdkafka")

type Decoder[T] = Callable[[bytes | None, bytes | None], T]


class KafkaRangeError(RuntimeError):
    """The topic could not be read (unknown topic, broker unreachable, read timed out)."""


@dataclass
class RangeRead[T]:
    topic: str
    start: datetime
    end: datetime
    records: list[T] = field(default_factory=list)
    records_read: int = 0                   # raw records in the range, good and bad
    undecodable: int = 0
    first_error: str | None = None          # why the first undecodable record was rejected
    complete: bool = True                   # False: records that may belong to the range were deleted
    partitions: int = 0
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> [first, end) read
    seconds: float = 0.0


def epoch_ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


#: Where to read: a bootstrap address, or librdkafka settings (``KafkaSettings.client_config()``, with
#: security settings when the cluster needs them).
Client = str | Mapping[str, str]


def _consumer(client: Client, **extra: object) -> Consumer:
    config = {
        **({"bootstrap.servers": client} if isinstance(client, str) else dict(client)),
        "group.id": f"tradestream-reader-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "socket.timeout.ms": 5000,
        "session.timeout.ms": 10000,
        "logger": _rdkafka_log,
    }
    config.update(extra)
    return Consumer(config)


def _partitions(consumer: Consumer, topic: str, timeout_s: float) -> list[int]:
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaRangeError(f"cannot read the metadata of topic {topic!r}: {exc}") from None
    info = metadata.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        why = info.error if info is not None and info.error is not None else "no such topic"
        raise KafkaRangeError(f"topic {topic!r} cannot be read: {why}")
    return sorted(info.partitions)


def read_time_range[T](client: Client, topic: str, start: datetime, end: datetime, decode: Decoder[T], *,
                    timeout_s: float = 120.0) -> RangeRead[T]:
    """Records of ``topic`` whose Kafka timestamp lies in ``[start, end)``, decoded.

    ``decode(key, value)`` returns the decoded record or raises (any exception) for a
    record it cannot use; those are counted in ``undecodable``. Raises KafkaRangeError
    when the topic is missing or the read does not finish within ``timeout_s``.
    """
    if end <= start:
        raise ValueError(f"time range [{start}, {end}) is empty; start must come before end")
    t0 = time.monotonic()
    result: RangeRead[T] = RangeRead(topic, start, end)
    consumer = _consumer(client)
    try:
        partitions = _partitions(consumer, topic, min(timeout_s, 10.0))
        result.partitions = len(partitions)
        start_ms, end_ms = epoch_ms(start), epoch_ms(end)
        try:
            firsts = consumer.offsets_for_times([TopicPartition(topic, p, start_ms) for p in partitions],
                                                timeout=min(timeout_s, 10.0))
            lasts = consumer.offsets_for_times([TopicPartition(topic, p, end_ms) for p in partitions],
                                               timeout=min(timeout_s, 10.0))
        except KafkaException as exc:
            raise KafkaRangeError(f"offsets_for_times on {topic!r} failed: {exc}") from None
        assignment: list[TopicPartition] = []
        stop_at: dict[int, int] = {}
        for first_tp, last_tp in zip(firsts, lasts, strict=True):
            p = first_tp.partition
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=min(timeout_s, 10.0))
            # offset -1 (OFFSET_END): no record at or after that time, i.e. the range starts/ends past the log
            first = high if first_tp.offset < 0 else first_tp.offset
            last = high if last_tp.offset < 0 else last_tp.offset
            if low > 0 and first <= low:
                # the first retained record is already inside (or past) the range, and records before it
                # were deleted: some of those may have belonged to the range
                result.complete = False
            first = max(first, low)
            result.offsets[p] = (first, last)
            if last > first:
                assignment.append(TopicPartition(topic, p, first))
                stop_at[p] = last
        if assignment:
            consumer.assign(assignment)
            _drain(consumer, stop_at, decode, result, deadline=t0 + timeout_s)
    finally:
        consumer.close()
    result.seconds = time.monotonic() - t0
    return result


def _drain[T](consumer: Consumer, stop_at: dict[int, int], decode: Decoder[T], result: RangeRead[T],
           deadline: float) -> None:
    remaining = dict(stop_at)
    while remaining:
        if time.monotonic() > deadline:
            raise KafkaRangeError(
                f"reading {result.topic} [{result.start}, {result.end}) timed out with partitions "
                f"{sorted(remaining)} unfinished ({result.records_read} records read)")
        for message in consumer.consume(num_messages=5000, timeout=1.0):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaRangeError(f"reading {result.topic} failed: {error}")
            p, offset = message.partition(), message.offset()
            end = remaining.get(p)
            if end is None or offset >= end:
                continue
            result.records_read += 1
            try:
                result.records.append(decode(message.key(), message.value()))
            except Exception as exc:  # noqa: BLE001 - any decoder failure marks the record as bad
                result.undecodable += 1
                if result.first_error is None:
                    result.first_error = f"partition {p} offset {offset}: {type(exc).__name__}: {exc}"
            if offset + 1 >= end:
                remaining.pop(p)
                consumer.incremental_unassign([TopicPartition(result.topic, p)])


# --------------------------------------------------------------------------- probes for the supervisor


@dataclass
class TopicPosition:
    topic: str
    records: int                             # sum over partitions of (high - low)
    end_offsets: dict[int, int]
    newest_timestamp: datetime | None        # Kafka timestamp of the newest record, None for an empty topic


#: Answers a broker gives while leaders and coordinators of a new topic or group are being elected.
_SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
             KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.COORDINATOR_LOAD_IN_PROGRESS}


def _retriable(exc: KafkaException) -> bool:
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and (error.retriable() or error.code() in _SETTLING)


def _watermarks(consumer: Consumer, tp: TopicPartition, deadline: float) -> tuple[int, int]:
    """(low, high) offsets, retrying while the partition has no leader yet (a topic created a moment ago)."""
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=max(0.5, deadline - time.monotonic()))
        except KafkaException as exc:
            if not _retriable(exc) or time.monotonic() >= deadline:
                raise KafkaRangeError(f"watermarks of {tp.topic}[{tp.partition}] unavailable: {exc}") from None
            time.sleep(0.2)


def newest_record(client: Client, topic: str, timeout_s: float = 5.0) -> TopicPosition:
    """The newest record's timestamp over all partitions; reads at most one record per partition."""
    deadline = time.monotonic() + timeout_s
    consumer = _consumer(client)
    try:
        partitions = _partitions(consumer, topic, timeout_s)
        end_offsets: dict[int, int] = {}
        total = 0
        assignment = []
        for p in partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, p), deadline)
            end_offsets[p] = high
            total += high - low
            if high > low:
                assignment.append(TopicPartition(topic, p, high - 1))
        newest: int | None = None
        if assignment:
            consumer.assign(assignment)
            waiting = {tp.partition for tp in assignment}
            while waiting and time.monotonic() < deadline:
                for message in consumer.consume(num_messages=len(waiting), timeout=0.5):
                    if message.error() is not None:
                        continue
                    waiting.discard(message.partition())
                    _kind, stamp = message.timestamp()
                    if stamp > 0:
                        newest = stamp if newest is None else max(newest, stamp)
        return TopicPosition(topic, total, end_offsets,
                             datetime.fromtimestamp(newest / 1000, UTC) if newest is not None else None)
    finally:
        consumer.close()


def consumer_lag(client: Client, group_id: str, topic: str, timeout_s: float = 5.0) -> int | None:
    """Records of ``topic`` the group has not committed yet; None when the group committed nothing."""
    consumer = _consumer(client, **{"group.id": group_id})
    try:
        partitions = _partitions(consumer, topic, timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                committed = consumer.committed([TopicPartition(topic, p) for p in partitions],
                                               timeout=max(0.5, deadline - time.monotonic()))
                break
            except KafkaException as exc:
                # a group's coordinator is elected on first use; until then the broker says NOT_COORDINATOR
                if not _retriable(exc) or time.monotonic() >= deadline:
                    raise KafkaRangeError(f"committed offsets of group {group_id!r} unavailable: {exc}") from None
                time.sleep(0.2)
        lag = 0
        any_committed = False
        for tp in committed:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout_s)
            if tp.offset >= 0 and tp.offset != OFFSET_END:
                any_committed = True
                lag += max(0, high - tp.offset)
            else:
                lag += high
        return lag if any_committed else None
    finally:
        consumer.close()
