"""The execution stream: signals, trades and halt commands in; orders, fills, positions, risk events out.

``ExecutionStream.run`` is a consume-transform-produce loop over the ``Executor`` state
machine (``tradestream.execution``), exactly once through Kafka transactions:

* Inputs are read with ``isolation.level=read_committed`` from ``signals``, ``trades`` and
  ``risk.commands``; each record goes to the matching ``Executor`` method.
* One transaction holds the outputs of a batch of input records, the executor's snapshot
  (``snapshots.py``, on the compacted ``execution.snapshots``) and the batch's input offsets
  (``send_offsets_to_transaction``). A kill -9 at any moment leaves either all of it or
  none: the records of an aborted transaction are invisible to read_committed readers, and
  a restart continues from the newest committed snapshot at its offsets, so no order is
  lost and none is placed twice.
* Batches: a transaction that produced orders, fills or events commits as soon as the
  records at hand are processed (``commit_interval_ms``, default 0: a commit costs a few
  broker round trips, ~20 ms on one local broker, and records that arrive meanwhile form the
  next batch, so a batch grows with the load by itself; an interval would only add its
  length to every fill's latency). A transaction of trades that only moved marks stays
  open up to ``quiet_commit_interval_ms`` (1 s): nobody waits for it, and it spares the
  broker a snapshot per trade batch.

The clock (``now`` of a signal) is the wall clock in live mode and when ingestion reads a
live exchange; otherwise event time, the signal's own time (its candle's close). Event
time makes a replay or a sped-up simulation act on each signal as it closes, whatever the
machine's pace, and makes the decisions independent of when a record is processed: after
a restart the stream catches up on a backlog, and a clock read from the newest trade would
then find signals "stale" that were fresh when they came. The stale-signal rule therefore
only acts on the wall clock (live).

Inputs interleave by event time as far as the records at hand allow (``merge.py``): in
steady state each record is processed as it arrives; while catching up on a backlog (after
a restart) trades cannot run ahead of the signals they fill, so a restarted executor fills
as an uninterrupted one. Halt commands act on arrival. What can still differ with timing
is when a mark (the newest trade price) moves relative to a signal: a live signal comes
30-60 s after its candle closed (the signal engine's allowed lateness), a replayed one
right after it. The mark in a position snapshot, the exposure limits and the moment a
loss limit trips read it; fills do not (``candle_close`` fills at the signal's price,
``next_trade`` at the first trade after it, looked up in the trade tape).

The accounts file is checked every ``reload_interval_s`` and reloaded without stopping
(``reload_accounts``: a bad file keeps the running config and the log names its line). In
live mode, PENDING venue orders go to ``VenueBridge`` once their transaction committed,
its reports come back through ``Executor.on_venue_report``, and pending orders of a
restored executor are reconciled with the venue on start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from streaming.execution.live import VenueBridge
from streaming.execution.merge import RANK, EventTimeMerge, Fetched
from streaming.execution.records import ExecutionTopics, Input, decode, event_time_ns, output_records
from streaming.execution.snapshots import StreamSnapshot, latest_snapshot
from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import retriable
from streaming.kafka.topics import SNAPSHOT_MAX_BYTES
from tradestream.execution import AccountsConfig, Executor, Outputs, load_accounts, reload_accounts
from tradestream.execution.accounts import DEFAULT_ACCOUNTS_FILE
from tradestream.settings import IngestMode, Settings
from tradestream.v1 import execution_pb2 as pb

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("tradestream.rdkafka")

#: How long the loop waits for a record before it looks at venue reports, the accounts file and the stop flag.
IDLE_POLL_S = 0.1
#: ... and while records wait in the merge for a partition that may deliver an earlier one.
HELD_BACK_POLL_S = 0.01
#: A partition whose offsets did not move this long holds the merge back no more (merge.py).
IDLE_PARTITION_S = 1.0
#: Records waiting in the merge per partition before the consumer stops fetching it for a while.
MAX_WAITING = 50_000
KAFKA_TIMEOUT_S = 30.0
COMMIT_ATTEMPTS = 5
SUMMARY_EVERY_S = 30.0

Clock = Literal["wall", "event"]


class ExecutionStreamError(RuntimeError):
    """The stream cannot start or continue; the message says why and what to do."""


@dataclass(frozen=True)
class ExecutionConfig:
    """What one executor runs: its cluster and topics, accounts, mode and batching."""

    kafka: KafkaClientConfig
    topics: ExecutionTopics
    accounts_file: Path
    group: str
    mode: Literal["paper", "live"] = "paper"
    live_accounts: tuple[str, ...] = ()
    clock: Clock = "event"
    start: Literal["latest", "earliest"] = "latest"
    commit_interval_s: float = 0.0
    quiet_commit_interval_s: float = 1.0
    max_batch: int = 5000
    reload_interval_s: float = 5.0
    venue: str = "coinbase"

    @classmethod
    def from_settings(cls, settings: Settings, *, accounts: Path | None = None, mode: str | None = None,
                      live_accounts: list[str] | None = None, clock: str | None = None, start: str | None = None,
                      group: str | None = None, commit_interval_ms: float | None = None) -> ExecutionConfig:
        """The settings' ``[execution]`` section with the options given (None: the setting)."""
        e = settings.execution
        mode = mode or e.mode
        if mode not in ("paper", "live"):
            raise ExecutionStreamError(f"--mode {mode!r} must be paper or live")
        clock = clock or e.clock
        if clock == "auto":
            clock = "wall" if mode == "live" or IngestMode(settings.ingestion.mode) is IngestMode.WET else "event"
        if clock not in ("wall", "event"):
            raise ExecutionStreamError(f"--clock {clock!r} must be auto, wall or event")
        start = start or e.start
        if start not in ("latest", "earliest"):
            raise ExecutionStreamError(f"--start {start!r} must be latest or earliest")
        return cls(kafka=KafkaClientConfig.from_settings(settings.kafka),
                   topics=ExecutionTopics.from_settings(settings.kafka),
                   accounts_file=Path(accounts or e.accounts_file or DEFAULT_ACCOUNTS_FILE),
                   group=group or e.consumer_group, mode=mode,
                   live_accounts=tuple(live_accounts if live_accounts is not None else e.live_accounts),
                   clock=clock, start=start,
                   commit_interval_s=(e.commit_interval_ms if commit_interval_ms is None else commit_interval_ms)
                   / 1000, quiet_commit_interval_s=e.quiet_commit_interval_ms / 1000, max_batch=e.max_batch,
                   reload_interval_s=e.reload_interval_s, venue=e.venue)

    @property
    def transactional_id(self) -> str:
        """One per executor: a second instance fences the first (its transactions abort)."""
        return f"{self.group}.executor"


@dataclass
class StreamCounters:
    """What the stream did since it started (the executor's own counters are in its snapshot)."""

    records: Counter[str] = field(default_factory=Counter)     # input records by kind
    outputs: Counter[str] = field(default_factory=Counter)     # output records by kind
    transactions: int = 0
    aborted: int = 0
    venue_reports: int = 0
    reloads: int = 0
    reload_errors: int = 0
    restored_from: str = "nothing (first start)"


def _settled[T](call: Callable[[], T], what: str) -> T:
    """``call()``, retried while the broker elects a new topic's leaders or a new group's coordinator."""
    deadline = time.monotonic() + KAFKA_TIMEOUT_S
    while True:
        try:
            return call()
        except KafkaException as exc:
            if not retriable(exc) or time.monotonic() > deadline:
                raise ExecutionStreamError(f"cannot read {what}: {exc.args[0]}") from None
            time.sleep(0.2)


class AccountsWatcher:
    """Notices edits of the accounts file (size and mtime, checked every ``interval_s``) and reloads it."""

    def __init__(self, path: Path, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.path = path
        self.interval_s = interval_s
        self._clock = clock
        self._next = clock() + interval_s
        self._seen = self._stamp()
        self.errors = 0

    def _stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_size, info.st_mtime_ns

    def check(self, running: AccountsConfig, *, force: bool = False) -> AccountsConfig | None:
        """The new config when the file changed and is valid; None when unchanged or bad (logged, naming the line)."""
        if not force and self._clock() < self._next:
            return None
        self._next = self._clock() + self.interval_s
        stamp = self._stamp()
        if stamp == self._seen and not force:
            return None
        self._seen = stamp
        outcome = reload_accounts(self.path, running)
        if outcome.error is not None:
            self.errors += 1
            log.error("accounts file not reloaded, the running config stays: %s", outcome.error)
            return None
        return outcome.config


class ExecutionStream:
    """One executor process: ``run`` until ``stop`` is set (or a fatal Kafka error)."""

    def __init__(self, config: ExecutionConfig, settings: Settings | None = None, *,
                 bridge: VenueBridge | None = None, wall_clock_ns: Callable[[], int] = time.time_ns):
        self.config = config
        self.settings = settings
        self.counters = StreamCounters()
        self._bridge = bridge
        self._wall_clock_ns = wall_clock_ns
        topics = config.topics
        self._inputs = topics.inputs
        self._offsets: dict[tuple[str, int], int] = {}       # next offset per input partition, this transaction
        self._committed: bytes | None = None                  # the last committed snapshot, for a rollback
        self._committed_offsets: dict[tuple[str, int], int] = {}
        self._txn_open = False
        self._batch_records = 0
        self._batch_started = 0.0
        self._urgent = False
        self._venue_orders: list[pb.Order] = []
        self._merge = EventTimeMerge()
        self._progress: dict[tuple[str, int], tuple[tuple[int, int], float]] = {}
        self._merge_partitions: list[tuple[str, int]] = []
        self._paused: set[tuple[str, int]] = set()
        self._fetched: dict[tuple[str, int], int] = {}        # next offset after the last record fetched
        self._accounts: AccountsConfig | None = None
        self._live: tuple[str, ...] = ()
        self.executor: Executor | None = None
        self.ready = threading.Event()                        # set once restored and reading

    # ------------------------------------------------------------------ set-up
    def _live_accounts(self, accounts: AccountsConfig) -> tuple[str, ...]:
        cfg = self.config
        live_in_file = [a.name for a in accounts.accounts if a.mode == "live"]
        if cfg.mode == "paper":
            if live_in_file:
                log.warning("account(s) %s have mode live in %s, but the executor runs in paper mode: they "
                            "paper-trade (live orders need --mode live and --live-account)", live_in_file,
                            cfg.accounts_file)
            return ()
        if not cfg.live_accounts:
            raise ExecutionStreamError("--mode live names no account that may trade live; add --live-account NAME "
                                       "(or TRADESTREAM_EXECUTION_LIVE_ACCOUNTS) for each")
        unknown = [a for a in cfg.live_accounts if accounts.account(a) is None]
        if unknown:
            raise ExecutionStreamError(f"--live-account {unknown} not in {cfg.accounts_file} (accounts: "
                                       f"{[a.name for a in accounts.accounts]})")
        paper = [a for a in cfg.live_accounts if a not in live_in_file]
        if paper:
            log.warning("account(s) %s are on the live allow-list but have mode paper in %s: they paper-trade",
                        paper, cfg.accounts_file)
        live = tuple(a for a in cfg.live_accounts if a in live_in_file)
        log.warning("LIVE MODE: account(s) %s place real orders at %s", list(live), cfg.venue)
        return live

    def _venue_bridge(self) -> VenueBridge:
        from streaming.venues.coinbase.execution import MissingCredentials
        from streaming.venues.registry import order_venue
        from streaming.venues.spec import MissingCapability

        if self.settings is None:
            raise ExecutionStreamError("live mode needs the settings of the venue")
        try:
            return VenueBridge(order_venue(self.settings, self.config.venue))
        except (MissingCredentials, MissingCapability, ValueError) as exc:
            raise ExecutionStreamError(f"live mode cannot reach {self.config.venue}: {exc}") from None

    def _restore(self, accounts: AccountsConfig, live: tuple[str, ...]) -> StreamSnapshot | None:
        saved = latest_snapshot(self.config.kafka, self.config.topics.snapshots, self.config.group)
        if saved is None:
            self.executor = Executor(accounts, live_accounts=live)
            return None
        try:
            self.executor = Executor.restore(accounts, saved.executor, live_accounts=live)
        except ValueError as exc:
            raise ExecutionStreamError(f"the executor's snapshot on {self.config.topics.snapshots} cannot be "
                                       f"restored: {exc}") from None
        self.counters.restored_from = f"snapshot of transaction {saved.transactions}"
        return saved

    def _starting_offsets(self, consumer, saved: StreamSnapshot | None) -> dict[tuple[str, int], int]:
        """Per input partition: the snapshot's offset, else the group's committed one, else the start policy
        (commands always from the beginning: the compacted topic holds the halts in force)."""
        offsets: dict[tuple[str, int], int] = {}
        parts: list[TopicPartition] = []
        for topic in self._inputs:
            metadata = consumer.list_topics(topic, timeout=KAFKA_TIMEOUT_S).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                raise ExecutionStreamError(f"input topic {topic!r} does not exist at {self.config.kafka.bootstrap}; "
                                           "create the platform's topics with `tradestream topics create`")
            parts += [TopicPartition(topic, p) for p in sorted(metadata.partitions)]
        found = _settled(lambda: consumer.committed(parts, timeout=KAFKA_TIMEOUT_S),
                         f"the committed offsets of group {self.config.group}")
        committed = {(tp.topic, tp.partition): tp.offset for tp in found}
        for tp in parts:
            key = (tp.topic, tp.partition)
            if saved is not None and key in saved.offsets:
                offsets[key] = saved.offsets[key]
                if committed.get(key, -1) >= 0 and committed[key] != saved.offsets[key]:
                    log.warning("%s[%d]: the group committed offset %d, the snapshot says %d; continuing from the "
                                "snapshot", *key, committed[key], saved.offsets[key])
            elif committed.get(key, -1) >= 0:
                offsets[key] = committed[key]
            else:
                low, high = _settled(lambda tp=tp: consumer.get_watermark_offsets(tp, timeout=KAFKA_TIMEOUT_S),
                                     f"the offsets of {tp.topic}[{tp.partition}]")
                earliest = self._inputs[tp.topic] is Input.COMMAND or self.config.start == "earliest"
                offsets[key] = low if earliest else high
        return offsets

    # ------------------------------------------------------------------ the loop
    def run(self, stop: threading.Event) -> StreamCounters:
        cfg = self.config
        accounts = load_accounts(cfg.accounts_file)
        self._accounts = accounts
        live = self._live = self._live_accounts(accounts)
        if live and self._bridge is None:
            self._bridge = self._venue_bridge()
        producer = cfg.kafka.transactional_producer(cfg.transactional_id, {
            "linger.ms": 1, "message.max.bytes": SNAPSHOT_MAX_BYTES + 1024, "logger": _rdkafka_log,
            "transaction.timeout.ms": 60_000})
        started = time.monotonic()
        try:
            producer.init_transactions(KAFKA_TIMEOUT_S * 2)
        except KafkaException as exc:
            raise ExecutionStreamError(f"cannot start transactions at {cfg.kafka.bootstrap}: {exc.args[0]}") from None
        log.info("transactional id %s ready in %.1f s (an older executor with it is fenced off)", cfg.transactional_id,
                 time.monotonic() - started)
        saved = self._restore(accounts, live)
        consumer = cfg.kafka.consumer(cfg.group, {
            "enable.auto.commit": False, "enable.auto.offset.store": False, "isolation.level": "read_committed",
            "auto.offset.reset": "earliest", "logger": _rdkafka_log})
        self._producer, self._consumer = producer, consumer
        try:
            self._committed = saved.encode() if saved is not None else None
            self._committed_offsets = self._starting_offsets(consumer, saved)
            self._offsets = dict(self._committed_offsets)
            self._assign()
            pending = self.executor.pending_orders()
            if pending:
                if self._bridge is not None:
                    log.info("reconciling %d pending live order(s) with %s", len(pending), cfg.venue)
                    self._bridge.reconcile(pending)
                else:
                    log.warning("%d order(s) wait for a venue, but this executor runs in paper mode: %s",
                                len(pending), [o.client_order_id for o in pending])
            log.info("executor %s: %d account(s), %d allocation(s) from %s; %s mode, %s clock; restored from %s",
                     cfg.group, len(accounts.accounts), len(accounts.allocations()), cfg.accounts_file, cfg.mode,
                     cfg.clock, self.counters.restored_from)
            self.ready.set()
            self._loop(stop)
            if self._batch_records or self._txn_open:
                self._commit()
        finally:
            consumer.close()
            if self._bridge is not None:
                self._bridge.close()
        return self.counters

    def _loop(self, stop: threading.Event) -> None:
        cfg = self.config
        watcher = AccountsWatcher(cfg.accounts_file, cfg.reload_interval_s)
        next_summary = time.monotonic() + SUMMARY_EVERY_S
        while not stop.is_set():
            if not self._batch_records:
                self._housekeeping(watcher)
                if time.monotonic() >= next_summary:
                    log.info("%s", self.summary())
                    next_summary = time.monotonic() + SUMMARY_EVERY_S
            if self._bridge is not None:
                for report in self._bridge.drain():
                    self.counters.venue_reports += 1
                    self._note_batch()
                    self._emit(self.executor.on_venue_report(report))
            timeout = IDLE_POLL_S if not self._batch_records else min(IDLE_POLL_S, max(0.0, self._deadline()
                                                                                        - time.monotonic()))
            if self._merge.waiting():
                timeout = min(timeout, HELD_BACK_POLL_S)
            self._fetch(timeout)
            for record in self._merge.ready(self._holds_back):
                self._process(record)
                if self._batch_records >= cfg.max_batch:
                    break
            self._flow_control()
            if self._batch_records and (time.monotonic() >= self._deadline()
                                        or self._batch_records >= cfg.max_batch):
                self._commit()

    def _fetch(self, timeout: float) -> None:
        """Hand what the consumer has (waiting up to ``timeout`` for a first record) to the merge."""
        first = self._consumer.poll(timeout)
        if first is None:
            return
        for message in [first, *self._consumer.consume(self.config.max_batch, timeout=0)]:
            error = message.error()
            if error is not None:
                if error.code() in (KafkaError._PARTITION_EOF, KafkaError._TIMED_OUT):
                    continue
                if error.fatal():
                    raise ExecutionStreamError(f"reading {message.topic()} failed: {error}")
                log.warning("reading %s: %s", message.topic(), error)
                continue
            kind = self._inputs.get(message.topic())
            if kind is None:
                continue
            value = decode(kind, message.value())
            self._fetched[(message.topic(), message.partition())] = message.offset() + 1
            self._merge.add(Fetched(event_time_ns(value), RANK[kind], message.topic(), message.partition(),
                                    message.offset(), kind, value))

    def _holds_back(self, key: tuple[str, int]) -> bool:
        """Whether this (empty) partition may still deliver a record earlier than those waiting in the merge:
        Kafka holds more of it than the consumer delivered (the consumer's position passes transaction
        markers; the fetched offset covers a partition that delivered nothing yet), and that is still moving.
        A partition stuck for ``IDLE_PARTITION_S`` (an open transaction of its producer, a leader away)
        holds nothing back."""
        tp = TopicPartition(*key)
        _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
        (position,) = self._consumer.position([tp])
        delivered = max(position.offset, self._fetched.get(key, -1))
        if high >= 0 and delivered >= high:
            return False
        now = time.monotonic()
        seen, since = self._progress.get(key, (None, now))
        if seen != (delivered, high):
            self._progress[key] = ((delivered, high), now)
            return True
        return now - since < IDLE_PARTITION_S

    def _flow_control(self) -> None:
        """Stop fetching a partition whose records pile up while another holds the merge back."""
        for key in list(self._merge_partitions):
            waiting = self._merge.waiting(key)
            if key in self._paused and waiting < MAX_WAITING // 2:
                self._consumer.resume([TopicPartition(*key)])
                self._paused.discard(key)
            elif key not in self._paused and waiting >= MAX_WAITING:
                self._consumer.pause([TopicPartition(*key)])
                self._paused.add(key)

    def _deadline(self) -> float:
        interval = self.config.commit_interval_s if self._urgent else self.config.quiet_commit_interval_s
        return self._batch_started + interval

    def _assign(self) -> None:
        """Read every input partition from the last committed offset, with nothing waiting in the merge."""
        self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in self._committed_offsets.items()])
        self._merge_partitions = [key for key in self._committed_offsets if self._inputs[key[0]] is not Input.COMMAND]
        self._merge.reset(self._merge_partitions)
        self._fetched = dict(self._committed_offsets)
        self._progress = {}
        self._paused = set()

    def _housekeeping(self, watcher: AccountsWatcher) -> None:
        new = watcher.check(self._accounts)
        self.counters.reload_errors = watcher.errors
        if new is None:
            return
        report = self.executor.reload(new)
        self._accounts = new
        self.counters.reloads += 1
        log.info("accounts reloaded from %s: %d added, %d removed, %d kept", watcher.path, len(report.added),
                 len(report.removed), len(report.kept))
        if report.long_but_removed:
            log.warning("allocation(s) %s were removed while long: no signal will close them (add them back to "
                        "close them)", report.long_but_removed)

    # ------------------------------------------------------------------ one record
    def _note_batch(self) -> None:
        if not self._batch_records:
            self._batch_started = time.monotonic()
        self._batch_records += 1

    def _process(self, record: Fetched) -> None:
        self._note_batch()
        self.counters.records[record.kind.value] += 1
        if record.kind is Input.SIGNAL:
            out = self.executor.on_signal(record.value, self._now(record.value))
        elif record.kind is Input.TRADE:
            out = self.executor.on_trade(record.value)
        else:
            out = self.executor.on_halt(record.value)
        self._offsets[record.key] = record.offset + 1
        self._emit(out)

    def _now(self, signal: object) -> int:
        """The executor's clock for this signal: the wall clock, or its candle's close (module docstring)."""
        return self._wall_clock_ns() if self.config.clock == "wall" else event_time_ns(signal)

    def _emit(self, out: Outputs) -> None:
        if not out:
            return
        self._begin()
        for topic, key, value in output_records(out, self.config.topics):
            self._produce(topic, key, value)
        self._urgent = True
        for name in ("orders", "fills", "positions", "risk_events", "accounts"):
            self.counters.outputs[name] += len(getattr(out, name))
        self._venue_orders += [o for o in out.orders
                               if o.fill_model == pb.FILL_MODEL_VENUE and o.status == pb.ORDER_STATUS_PENDING]

    # ------------------------------------------------------------------ transactions
    def _begin(self) -> None:
        if not self._txn_open:
            self._producer.begin_transaction()
            self._txn_open = True

    def _produce(self, topic: str, key: bytes, value: bytes) -> None:
        while True:
            try:
                self._producer.produce(topic, key=key, value=value)
                return
            except BufferError:
                self._producer.poll(0.005)

    def _commit(self) -> None:
        snapshot = StreamSnapshot(executor=self.executor.snapshot(), offsets=dict(self._offsets),
                                  transactions=self.counters.transactions + 1)
        encoded = snapshot.encode()
        try:
            self._begin()
            self._produce(self.config.topics.snapshots, self.config.group.encode(), encoded)
            self._retrying(lambda: self._producer.send_offsets_to_transaction(
                [TopicPartition(t, p, o) for (t, p), o in sorted(self._offsets.items())],
                self._consumer.consumer_group_metadata(), KAFKA_TIMEOUT_S))
            self._retrying(lambda: self._producer.commit_transaction(KAFKA_TIMEOUT_S))
        except KafkaException as exc:
            error = exc.args[0]
            if not error.txn_requires_abort():
                raise ExecutionStreamError(f"the transaction failed and cannot be aborted ({error}); another "
                                           f"executor with id {self.config.transactional_id!r} may have started "
                                           "(this one is fenced)") from None
            log.warning("transaction aborted (%s); continuing from the last committed state", error)
            self._rollback()
            return
        self.counters.transactions += 1
        self._committed, self._committed_offsets = encoded, dict(self._offsets)
        self._txn_open = False
        self._batch_records = 0
        self._urgent = False
        orders, self._venue_orders = self._venue_orders, []
        if self._bridge is not None:
            for order in orders:
                self._bridge.submit(order)

    def _retrying(self, call: Callable[[], None]) -> None:
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                call()
                return
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or attempt == COMMIT_ATTEMPTS:
                    raise
                log.info("transaction step retried after %s (attempt %d)", error, attempt)

    def _rollback(self) -> None:
        self.counters.aborted += 1
        try:
            self._producer.abort_transaction(KAFKA_TIMEOUT_S)
        except KafkaException as exc:
            raise ExecutionStreamError(f"aborting the transaction failed: {exc.args[0]}") from None
        live = self._live
        if self._committed is None:
            self.executor = Executor(self._accounts, live_accounts=live)
        else:
            saved = StreamSnapshot.decode(self._committed)
            self.executor = Executor.restore(self._accounts, saved.executor, live_accounts=live)
        self._offsets = dict(self._committed_offsets)
        self._assign()
        self._txn_open = False
        self._batch_records = 0
        self._urgent = False
        self._venue_orders = []
        if self._bridge is not None:  # reports booked in the aborted transaction: ask the venue again
            self._bridge.reconcile(self.executor.pending_orders())

    # ------------------------------------------------------------------ reporting
    def summary(self) -> str:
        c = self.counters
        ex = self.executor.counters if self.executor is not None else Counter()
        denied = sum(v for k, v in ex.items() if k.startswith("denied:"))
        rejected = sum(v for k, v in ex.items() if k.startswith("rejected:"))
        records = ", ".join(f"{k}={v}" for k, v in sorted(c.records.items())) or "none"
        return (f"records: {records}; orders={ex.get('orders', 0)} fills={ex.get('fills', 0)} denied={denied} "
                f"rejected={rejected}; transactions={c.transactions} aborted={c.aborted} "
                f"venue_reports={c.venue_reports} reloads={c.reloads}")

