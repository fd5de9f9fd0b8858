"""Kafka IO for Beam Python pipelines on Flink, on confluent-kafka (librdkafka).

Why not Beam's ``apache_beam.io.kafka``: it is a cross-language transform (a Java
expansion service plus a Java SDK harness, DOCKER by default), i.e. a second JVM and jars
this machine's Maven Central does not serve for Beam 2.62. A splittable DoFn over
confluent-kafka runs inside the Python SDK harness that the pipeline needs anyway.

Reading (``ReadFromKafka``) is a splittable DoFn whose restriction is a set of partition
offset ranges, one element per reader (by default one reader for all partitions of the
topic). Progress is the restriction: every poll claims the offsets it read, then the DoFn
defers the remainder (portable runners never ask an SDF to checkpoint, apache/beam#20979,
so it checkpoints itself). Flink keeps the deferred remainder in its checkpointed state,
so a job restored from a checkpoint resumes exactly at the offsets that state belongs to.
After a checkpoint completes, bundle finalization commits the same offsets to the
consumer group, for lag monitoring only.

Every consumer and producer comes from the job's ``KafkaClientConfig`` (``streaming.kafka.clients``),
and the offsets a read starts and stops at are resolved with ``streaming.kafka.ranges.OffsetReader``.

Watermark (per reader, ``reader_watermark``): the minimum over partitions of the newest
event time read minus ``watermark_lag``. A partition that has been caught up (at its end)
for ``idle_timeout`` does not hold the watermark back (apache/beam#31085); when all are
idle the watermark is the newest event time minus the lag, and if that data is live
(event times within ``live_horizon`` of the wall clock) it follows the wall clock, so
windows still close when the market goes quiet. Each output batch carries the watermark
as it stood before the batch: downstream uses it to recognise data that was late at the
source.

Writing (``WriteToKafka``) produces ``(key, value)`` pairs with an idempotent producer
and flushes at the end of every bundle; Flink finishes bundles before it snapshots, so
everything before a checkpoint is acknowledged by Kafka (at-least-once; consumers upsert
by key).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import apache_beam as beam
from apache_beam import coders
from apache_beam.io.iobase import RestrictionProgress, RestrictionTracker, WatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import KafkaRangeError, OffsetReader, TopicMissing

log = logging.getLogger(__name__)

StartPolicy = Literal["earliest", "latest", "committed"]
ParseFn = Callable[[bytes | None, bytes | None, int], tuple[Any, int | None]]
"""(key, value, kafka timestamp ms) -> (parsed value, event time in µs or None). The reader
parses each record once; the parsed value rides along to the fused downstream steps."""


class KafkaIOError(RuntimeError):
    """Kafka could not be read or written. The message says which topic and what to do."""


# ---------------------------------------------------------------- records and batches


class KafkaRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    event_us: int | None  # from the reader's parse function
    parsed: Any = None    # from the reader's parse function


class KafkaBatch(NamedTuple):
    """Records from one poll of one reader, with the reader's watermark before the poll."""

    watermark_us: int | None
    records: tuple[KafkaRecord, ...]


def kafka_timestamp(key: bytes | None, value: bytes | None, timestamp_ms: int) -> tuple[Any, int | None]:
    """Default parse: nothing parsed; event time is the Kafka record timestamp."""
    return None, (timestamp_ms * 1000 if timestamp_ms > 0 else None)


# ---------------------------------------------------------------- restriction


@dataclass(frozen=True)
class PartitionSpan:
    partition: int
    start: int              # first offset to read
    stop: int | None        # first offset not to read; None reads forever


@dataclass(frozen=True)
class KafkaRestriction:
    topic: str
    spans: tuple[PartitionSpan, ...]

    @property
    def bounded(self) -> bool:
        return all(s.stop is not None for s in self.spans)

    def size(self) -> float:
        if not self.bounded:
            return 1.0
        return float(sum(max(0, s.stop - s.start) for s in self.spans))  # type: ignore[operator]


class KafkaRestrictionTracker(RestrictionTracker):
    """Claims ``(partition, offset, is_record)`` positions of a ``KafkaRestriction``.

    ``is_record=False`` claims that the partition's end was reached at ``offset`` without a
    record there (end of log, or offsets used by transaction markers): the position moves
    on without data. Only checkpoint splits (fraction 0) are supported; the reader is one
    sequential consumer, so dynamic splits are declined.
    """

    def __init__(self, restriction: KafkaRestriction):
        self._restriction = restriction
        self._next = {s.partition: s.start for s in restriction.spans}
        self._stop = {s.partition: s.stop for s in restriction.spans}
        self._split = False

    def current_restriction(self) -> KafkaRestriction:
        return self._restriction

    def try_claim(self, position: tuple[int, int, bool]) -> bool:
        partition, offset, is_record = position
        if self._split or partition not in self._next:
            return False
        stop = self._stop[partition]
        if offset < self._next[partition]:
            raise ValueError(f"{self._restriction.topic}[{partition}]: offset {offset} claimed after "
                             f"{self._next[partition] - 1}; a reader must move forward")
        if stop is not None and offset >= stop:
            self._next[partition] = max(self._next[partition], stop)
            return False
        self._next[partition] = offset + 1 if is_record else offset
        return True

    def partition_done(self, partition: int) -> bool:
        stop = self._stop[partition]
        return stop is not None and self._next[partition] >= stop

    def try_split(self, fraction_of_remainder: float):
        if fraction_of_remainder != 0 or self._split:
            return None
        primary = KafkaRestriction(self._restriction.topic, tuple(
            PartitionSpan(s.partition, s.start, self._next[s.partition]) for s in self._restriction.spans))
        residual = KafkaRestriction(self._restriction.topic, tuple(
            PartitionSpan(s.partition, self._next[s.partition], s.stop) for s in self._restriction.spans))
        self._restriction = primary
        self._stop = {s.partition: s.stop for s in primary.spans}
        self._split = True
        return primary, residual

    def check_done(self) -> None:
        for span in self._restriction.spans:
            if span.stop is None or self._next[span.partition] < span.stop:
                raise ValueError(f"{self._restriction.topic}[{span.partition}]: offsets "
                                 f"{self._next[span.partition]}..{span.stop} were not read")

    def current_progress(self) -> RestrictionProgress:
        done = sum(self._next[s.partition] - s.start for s in self._restriction.spans)
        if not self._restriction.bounded:
            return RestrictionProgress(completed=float(done), remaining=1.0)
        left = sum(max(0, s.stop - self._next[s.partition]) for s in self._restriction.spans)  # type: ignore
        return RestrictionProgress(completed=float(done), remaining=float(left))

    def is_bounded(self) -> bool:
        return self._restriction.bounded


class _KafkaRestrictionProvider(RestrictionProvider):
    def initial_restriction(self, element: KafkaRestriction) -> KafkaRestriction:
        return element

    def create_tracker(self, restriction: KafkaRestriction) -> KafkaRestrictionTracker:
        return KafkaRestrictionTracker(restriction)

    def restriction_size(self, element: Any, restriction: KafkaRestriction) -> float:
        return restriction.size()

    def restriction_coder(self) -> coders.Coder:
        return coders.PickleCoder()

    def split(self, element: Any, restriction: KafkaRestriction) -> Iterator[KafkaRestriction]:
        yield restriction  # one sequential consumer per reader element


# ---------------------------------------------------------------- watermark


@dataclass
class PartitionClock:
    newest_event_us: int | None = None
    caught_up_since: float | None = None   # wall clock (s) since the partition is at its end, idle


def reader_watermark(clocks: Mapping[int, PartitionClock], *, lag_us: int, now: float, idle_timeout_s: float,
                     live_horizon_s: float) -> int | None:
    """The reader's watermark in µs (None while a busy partition has not shown an event time yet)."""
    def idle(clock: PartitionClock) -> bool:
        return clock.caught_up_since is not None and now - clock.caught_up_since >= idle_timeout_s

    active = [c for c in clocks.values() if not idle(c)]
    if active:
        if any(c.newest_event_us is None for c in active):
            return None
        return min(c.newest_event_us for c in active) - lag_us  # type: ignore[type-var]
    known = [c.newest_event_us for c in clocks.values() if c.newest_event_us is not None]
    if not known:
        return None
    newest = max(known)
    watermark = newest - lag_us
    now_us = int(now * 1_000_000)
    if now_us - newest <= live_horizon_s * 1_000_000:
        # live data and every partition silent: nothing older than the idle timeout can still come
        watermark = max(watermark, now_us - int(idle_timeout_s * 1_000_000) - lag_us)
    return watermark


class KafkaWatermarkEstimator(WatermarkEstimator):
    """Holds the reader watermark and the newest event time per partition (checkpointed)."""

    def __init__(self, state: tuple[int | None, tuple[tuple[int, int], ...]] | None):
        watermark, newest = state or (None, ())
        self._watermark: int | None = watermark
        self._newest: dict[int, int] = dict(newest)

    def observe_timestamp(self, timestamp: Timestamp) -> None:
        pass  # batches carry the previous watermark as timestamp; event times arrive via observe_event

    def observe_event(self, partition: int, event_us: int) -> None:
        if event_us > self._newest.get(partition, event_us - 1):
            self._newest[partition] = event_us

    def newest_event_us(self, partition: int) -> int | None:
        return self._newest.get(partition)

    def advance(self, watermark_us: int | None) -> None:
        if watermark_us is not None and (self._watermark is None or watermark_us > self._watermark):
            self._watermark = watermark_us

    def watermark_us(self) -> int | None:
        return self._watermark

    def current_watermark(self) -> Timestamp:
        return MIN_TIMESTAMP if self._watermark is None else Timestamp(micros=self._watermark)

    def get_estimator_state(self) -> tuple[int | None, tuple[tuple[int, int], ...]]:
        return (self._watermark, tuple(sorted(self._newest.items())))


class _KafkaWatermarkProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element: Any, restriction: KafkaRestriction):
        return None

    def create_watermark_estimator(self, estimator_state) -> KafkaWatermarkEstimator:
        return KafkaWatermarkEstimator(estimator_state)

    def estimator_state_coder(self) -> coders.Coder:
        return coders.PickleCoder()


# ---------------------------------------------------------------- reader


@dataclass(frozen=True)
class ReaderSettings:
    """How a reader consumes. Picklable; travels with the pipeline."""

    kafka: KafkaClientConfig
    group_id: str
    parse: ParseFn = kafka_timestamp
    watermark_lag_s: float = 2.0
    idle_timeout_s: float = 5.0
    live_horizon_s: float = 120.0
    max_batch_records: int = 10000
    max_poll_s: float = 5.0          # how long one process() call may keep reading a backlog before it defers
    empty_poll_delay_s: float = 0.1  # how long to wait before polling a caught-up reader again
    commit_offsets: bool = True      # commit checkpointed offsets to the group (lag monitoring)
    emit_watermark: bool = True      # batch mode reads without event-time progress
    consumer_config: tuple[tuple[str, Any], ...] = ()

    def consumer_conf(self) -> dict[str, Any]:
        """The reader's own consumer settings, on top of the cluster's (``kafka``)."""
        conf = {"enable.auto.commit": False,
                "enable.auto.offset.store": False, "enable.partition.eof": True,
                "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                "fetch.wait.max.ms": 50, "queued.min.messages": 20000, "logger": _rdkafka_logger}
        conf.update(dict(self.consumer_config))
        return conf

    def consumer(self) -> Consumer:
        return self.kafka.consumer(self.group_id, self.consumer_conf())


_rdkafka_logger = logging.getLogger("tradestream.rdkafka.reader")


@dataclass
class _ReaderRuntime:
    """What the worker process knows about a reader beyond its checkpointed state: its
    consumer (kept across bundles so prefetched records are not thrown away) and when each
    partition was last seen busy. Shared by the DoFn instances of one process, as the SDK
    may hand successive bundles of the same reader to different instances."""

    consumer: Consumer
    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    positions: dict[int, int] = field(default_factory=dict)       # partition -> next offset the consumer returns
    last_record: dict[int, float] = field(default_factory=dict)   # partition -> wall time of its last record
    last_check: dict[int, float] = field(default_factory=dict)    # partition -> wall time of the last end check
    caught_up_since: dict[int, float] = field(default_factory=dict)


_RUNTIMES: dict[tuple, _ReaderRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


class _ReadKafkaFn(beam.DoFn):
    def __init__(self, settings: ReaderSettings):
        self._settings = settings
        self._keys: set[tuple] = set()
        self._records_read = Metrics.counter("kafka", "records_read")

    def setup(self) -> None:
        self._keys = set()

    def teardown(self) -> None:
        with _RUNTIMES_LOCK:
            for key in self._keys:
                runtime = _RUNTIMES.get(key)
                if runtime is None:
                    continue
                runtime.users -= 1
                if runtime.users <= 0:
                    del _RUNTIMES[key]
                    try:
                        runtime.consumer.close()
                    except (KafkaException, RuntimeError):  # closing is best effort at shutdown
                        pass
        self._keys = set()

    def _reader(self, restriction: KafkaRestriction) -> _ReaderRuntime:
        key = (self._settings.kafka.bootstrap, self._settings.group_id, restriction.topic,
               tuple(s.partition for s in restriction.spans), restriction.bounded)
        with _RUNTIMES_LOCK:
            runtime = _RUNTIMES.get(key)
            if runtime is None:
                runtime = _RUNTIMES[key] = _ReaderRuntime(self._settings.consumer())
            if key not in self._keys:
                self._keys.add(key)
                runtime.users += 1
        return runtime

    def _position(self, runtime: _ReaderRuntime, restriction: KafkaRestriction) -> None:
        """Point the consumer at the restriction's offsets unless it is already there."""
        wanted = {s.partition: s.start for s in restriction.spans if s.stop is None or s.start < s.stop}
        if runtime.positions != wanted:
            runtime.consumer.assign([TopicPartition(restriction.topic, p, o) for p, o in wanted.items()])
            runtime.positions = dict(wanted)
            now = time.time()
            runtime.last_record = {p: now for p in wanted}
            runtime.last_check = {}
            runtime.caught_up_since = {}

    def _check_idle(self, runtime: _ReaderRuntime, topic: str, now: float) -> None:
        """Decide which partitions are idle: no record for the idle timeout and the consumer at
        the partition's end. The end offset is librdkafka's cached high watermark, refreshed by
        every fetch response, so a partition whose new records are fetched but not yet consumed
        is busy again at once (otherwise a backlog arriving on a long-idle partition would find
        the watermark already past it). When the cache knows nothing yet the broker is asked,
        at most once per idle timeout. (End-of-partition events alone do not do: librdkafka
        reports an end once, not again after a re-assignment.)"""
        idle_s = self._settings.idle_timeout_s
        for partition, position in runtime.positions.items():
            tp = TopicPartition(topic, partition)
            _, high = runtime.consumer.get_watermark_offsets(tp, cached=True)
            if high < 0 and now - runtime.last_check.get(partition, 0.0) >= idle_s:
                runtime.last_check[partition] = now
                try:
                    _, high = runtime.consumer.get_watermark_offsets(tp, timeout=2)
                except KafkaException as exc:
                    log.warning("cannot read the end offset of %s[%s]: %s", topic, partition, exc)
            at_end = high >= 0 and position >= high
            if at_end and now - runtime.last_record.get(partition, now) >= idle_s:
                runtime.caught_up_since.setdefault(partition, runtime.last_record.get(partition, now))
            elif not at_end:
                runtime.caught_up_since.pop(partition, None)

    def _read(self, tracker, estimator, finalizer) -> Iterator[TimestampedValue]:
        restriction: KafkaRestriction = tracker.current_restriction()
        runtime = self._reader(restriction)
        with runtime.lock:
            self._position(runtime, restriction)
            yield from self._poll(runtime, restriction, tracker, estimator, finalizer)

    def _poll(self, runtime: _ReaderRuntime, restriction: KafkaRestriction, tracker, estimator,
              finalizer) -> Iterator[TimestampedValue]:
        settings = self._settings
        topic = restriction.topic
        consumer = runtime.consumer
        bounded = restriction.bounded
        deadline = time.monotonic() + settings.max_poll_s
        lag_us = int(settings.watermark_lag_s * 1_000_000)
        got_data = False
        newest: dict[int, int] = {}
        while True:
            messages = consumer.consume(num_messages=settings.max_batch_records, timeout=0.1)
            records = []
            now = time.time()
            for message in messages:
                partition = message.partition()
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        if message.offset() >= runtime.positions.get(partition, 0):
                            tracker.try_claim((partition, message.offset(), False))
                            runtime.positions[partition] = message.offset()
                        continue
                    if error.fatal() or not error.retriable():
                        raise KafkaIOError(f"reading {topic}[{partition}] from {settings.kafka.bootstrap} failed: "
                                           f"{error.str()}")
                    log.warning("transient error reading %s[%s]: %s", topic, partition, error.str())
                    continue
                offset = message.offset()
                runtime.positions[partition] = offset + 1
                if not tracker.try_claim((partition, offset, True)):
                    consumer.pause([TopicPartition(topic, partition)])  # past its stop offset
                    continue
                runtime.last_record[partition] = now
                runtime.caught_up_since.pop(partition, None)
                key, value = message.key(), message.value()
                _, timestamp_ms = message.timestamp()
                parsed, event_us = settings.parse(key, value, timestamp_ms)
                if event_us is not None and event_us > newest.get(partition, event_us - 1):
                    newest[partition] = event_us
                records.append(KafkaRecord(topic, partition, offset, timestamp_ms, key, value, event_us, parsed))
            for partition, event_us in newest.items():  # once per poll: the estimator call takes a lock
                estimator.observe_event(partition, event_us)
            newest.clear()
            if records:
                got_data = True
                self._records_read.inc(len(records))
                before = estimator.watermark_us() if settings.emit_watermark else None
                timestamp = MIN_TIMESTAMP if before is None else Timestamp(micros=before)
                yield TimestampedValue(KafkaBatch(before, tuple(records)), timestamp)
            if settings.emit_watermark:
                self._check_idle(runtime, topic, now)
                clocks = {s.partition: PartitionClock(estimator.newest_event_us(s.partition),
                                                      runtime.caught_up_since.get(s.partition))
                          for s in restriction.spans}
                estimator.advance(reader_watermark(clocks, lag_us=lag_us, now=now,
                                                   idle_timeout_s=settings.idle_timeout_s,
                                                   live_horizon_s=settings.live_horizon_s))
            if bounded:
                # (the tracker view the SDK hands in exposes only try_claim: track positions here)
                if all(runtime.positions.get(s.partition, s.start) >= s.stop for s in restriction.spans):
                    return
                continue  # a bounded read finishes in one call
            # Caught up (a poll that did not fill a batch) or long enough: defer. Long calls while a
            # backlog lasts amortise the runner's turn-around between calls; short ones keep the
            # watermark (reported when the call ends) fresh once caught up.
            if time.monotonic() >= deadline or len(messages) < settings.max_batch_records:
                break
        if settings.commit_offsets and finalizer is not None:
            offsets = [TopicPartition(topic, p, o) for p, o in runtime.positions.items()]
            finalizer.register(lambda: _commit(consumer, offsets))
        tracker.defer_remainder(Duration(seconds=0 if got_data else settings.empty_poll_delay_s))


def _commit(consumer: Consumer, offsets: list[TopicPartition]) -> None:
    try:
        consumer.commit(offsets=offsets, asynchronous=True)
    except KafkaException as exc:  # monitoring only: the checkpoint holds the truth
        log.warning("could not commit offsets %s: %s", offsets, exc)


class _ReadUnboundedKafkaFn(_ReadKafkaFn):
    @beam.DoFn.unbounded_per_element()
    def process(self, element: KafkaRestriction,
                finalizer=beam.DoFn.BundleFinalizerParam,  # must precede the SDF params (Beam 2.62 arg mapping)
                tracker=beam.DoFn.RestrictionParam(_KafkaRestrictionProvider()),
                estimator=beam.DoFn.WatermarkEstimatorParam(_KafkaWatermarkProvider())):
        yield from self._read(tracker, estimator, finalizer)


class _ReadBoundedKafkaFn(_ReadKafkaFn):
    def process(self, element: KafkaRestriction,
                tracker=beam.DoFn.RestrictionParam(_KafkaRestrictionProvider()),
                estimator=beam.DoFn.WatermarkEstimatorParam(_KafkaWatermarkProvider())):
        yield from self._read(tracker, estimator, None)


# ---------------------------------------------------------------- offsets resolved at construction


def topic_partitions(kafka: KafkaClientConfig, topic: str, timeout: float = 10.0) -> list[int]:
    with OffsetReader(kafka, topic, purpose="probe") as reader:
        try:
            return reader.partitions(timeout)
        except TopicMissing:
            raise KafkaIOError(f"topic {topic!r} does not exist on {kafka.bootstrap}; create it with "
                               "`tradestream topics ensure`") from None
        except KafkaRangeError as exc:
            raise KafkaIOError(f"cannot reach Kafka at {kafka.bootstrap} to list topic {topic!r}: {exc}; "
                               "start it with `tradestream kafka start` or set "
                               "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS") from None


def resolve_offsets(kafka: KafkaClientConfig, topic: str, group_id: str, partitions: Sequence[int],
                    at: StartPolicy | int | Literal["end"] | None) -> dict[int, int | None]:
    """Offsets per partition for a policy: earliest, latest/end, committed (falls back to
    earliest), an epoch-milliseconds time (first offset at or after it), or None (no bound)."""
    if at is None:
        return {p: None for p in partitions}
    if not (isinstance(at, int) or at in ("committed", "earliest", "latest", "end")):
        raise ValueError(f"offset policy {at!r} must be earliest, latest, committed, end, an epoch-ms time or None")
    with OffsetReader(kafka, topic, group_id=group_id) as reader:
        deadline = time.monotonic() + 10.0
        try:
            watermarks = {p: reader.watermarks(p, deadline) for p in partitions}
            if isinstance(at, int):
                found = reader.offsets_at(partitions, at)
                # no record at or after the time: the end of the partition
                return {p: watermarks[p][1] if found[p] < 0 else found[p] for p in partitions}
            if at == "committed":
                committed = reader.committed(partitions, deadline)
                return {p: committed[p] if committed.get(p, -1) >= 0 else watermarks[p][0] for p in partitions}
            index = 0 if at == "earliest" else 1
            return {p: watermarks[p][index] for p in partitions}
        except KafkaRangeError as exc:
            raise KafkaIOError(f"cannot read offsets of {topic!r} at {kafka.bootstrap}: {exc}") from exc


def reader_restrictions(topic: str, starts: Mapping[int, int], stops: Mapping[int, int | None],
                        readers: int = 1) -> list[KafkaRestriction]:
    """Deal partitions round-robin into ``readers`` restrictions."""
    if readers < 1:
        raise ValueError(f"readers={readers} must be at least 1")
    partitions = sorted(starts)
    groups = [partitions[i::readers] for i in range(min(readers, len(partitions)))]
    return [KafkaRestriction(topic, tuple(PartitionSpan(p, starts[p], stops.get(p)) for p in group))
            for group in groups]


class ReadFromKafka(beam.PTransform):
    """Reads a topic as ``KafkaBatch`` elements (unbounded unless ``stop`` is given).

    ``start``: earliest | latest | committed | epoch-ms time. ``stop``: None (read forever),
    "end" (the end offsets at construction) or an epoch-ms time. Offsets are resolved when
    the transform is built, so a pipeline reads a fixed, reproducible range.
    """

    def __init__(self, topic: str, settings: ReaderSettings, *, start: StartPolicy | int = "earliest",
                 stop: Literal["end"] | int | None = None, readers: int = 1):
        super().__init__()
        partitions = topic_partitions(settings.kafka, topic)
        starts = resolve_offsets(settings.kafka, topic, settings.group_id, partitions, start)
        stops = resolve_offsets(settings.kafka, topic, settings.group_id, partitions, stop)
        self.restrictions = reader_restrictions(topic, starts, stops, readers)  # type: ignore[arg-type]
        self._settings = settings
        self._bounded = stop is not None

    def expand(self, pbegin):
        fn = _ReadBoundedKafkaFn(self._settings) if self._bounded else _ReadUnboundedKafkaFn(self._settings)
        restrictions = self.restrictions
        return (pbegin
                | "Impulse" >> beam.Impulse()
                | "Readers" >> beam.FlatMap(lambda _: restrictions)
                | "Read" >> beam.ParDo(fn))


# ---------------------------------------------------------------- writer


class _ProduceFn(beam.DoFn):
    def __init__(self, topic: str, kafka: KafkaClientConfig, producer_config: tuple[tuple[str, Any], ...]):
        self._topic = topic
        self._kafka = kafka
        self._producer_config = producer_config
        self._written = Metrics.counter("kafka", f"records_written_{topic}")

    def setup(self) -> None:
        conf = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4",
                "logger": logging.getLogger("tradestream.rdkafka.writer")}
        conf.update(dict(self._producer_config))
        self._producer = self._kafka.producer(conf)
        self._failures: list[str] = []

    def _delivered(self, error, message) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()} key={message.key()!r}: {error.str()}")

    def process(self, element: tuple[bytes, bytes]) -> None:
        key, value = element
        while True:
            try:
                self._producer.produce(self._topic, value=value, key=key, on_delivery=self._delivered)
                break
            except BufferError:  # local queue full: let librdkafka drain it
                self._producer.poll(0.1)
        self._producer.poll(0)
        self._written.inc()

    def finish_bundle(self) -> None:
        pending = self._producer.flush(60)
        failures, self._failures = self._failures, []
        if pending or failures:
            raise KafkaIOError(f"writing to {self._topic} at {self._kafka.bootstrap} failed ({pending} records "
                               f"unconfirmed after 60 s): {failures[:3]}; the bundle is retried from the last "
                               "checkpoint")

    def teardown(self) -> None:
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.flush(10)


class WriteToKafka(beam.PTransform):
    """Writes ``(key: bytes, value: bytes)`` pairs to a topic; at-least-once per checkpoint.

    ``producer_config``: the producer's own librdkafka settings (tuning) as key/value pairs, on
    top of the cluster's (``kafka``)."""

    def __init__(self, topic: str, kafka: KafkaClientConfig, producer_config: Iterable[tuple[str, Any]] = ()):
        super().__init__()
        self._fn = _ProduceFn(topic, kafka, tuple(producer_config))

    def expand(self, pcoll):
        return pcoll | "Produce" >> beam.ParDo(self._fn)


__all__ = ["KafkaBatch", "KafkaIOError", "KafkaRecord", "KafkaRestriction", "KafkaRestrictionTracker",
           "PartitionClock", "PartitionSpan", "ReadFromKafka", "ReaderSettings", "WriteToKafka",
           "reader_restrictions", "reader_watermark", "resolve_offsets", "topic_partitions"]
