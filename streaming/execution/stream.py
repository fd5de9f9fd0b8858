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
live exchange; otherwise event time: the newest trade of the signal's pair seen so far,
at least the signal's candle close. A replay or a sped-up simulator then judges a signal's
age by how far the market has moved since it, not by the wall clock.

Topics interleave in arrival order (each partition's order kept). A merge by event time
would have to wait for the slowest input partition, and signal partitions can be silent for
minutes, which would be every fill's latency. What arrival order can change is only
when a mark moves relative to a signal (the mark in a position snapshot, the moment a
loss limit trips); fills cannot: ``candle_close`` fills at the signal's price and
``next_trade`` at the first trade after it, whichever arrives first (``TradeTape``).

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

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from streaming.execution.live import VenueBridge
from streaming.execution.records import ExecutionTopics, Input, decode, output_records
from streaming.execution.snapshots import StreamSnapshot, latest_snapshot
from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.topics import SNAPSHOT_MAX_BYTES
from tradestream.execution import AccountsConfig, Executor, Outputs, load_accounts, reload_accounts
from tradestream.execution.accounts import DEFAULT_ACCOUNTS_FILE
from tradestream.settings import IngestMode, Settings
from tradestream.timeframes import TIMEFRAME_NS
from tradestream.v1 import execution_pb2 as pb
from tradestream.v1 import market_pb2, strategy_pb2

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("tradestream.rdkafka")

NS_PER_S = 1_000_000_000
#: How long the loop waits for a record before it looks at venue reports, the accounts file and the stop flag.
IDLE_POLL_S = 0.1
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
        self._newest_trade_ns: dict[str, int] = {}
        self._committed: bytes | None = None                  # the last committed snapshot, for a rollback
        self._committed_offsets: dict[tuple[str, int], int] = {}
        self._txn_open = False
        self._batch_records = 0
        self._batch_started = 0.0
        self._urgent = False
        self._venue_orders: list[pb.Order] = []
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
        self._newest_trade_ns = dict(saved.newest_trade_ns)
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
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(parts, timeout=KAFKA_TIMEOUT_S)}
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
                low, high = consumer.get_watermark_offsets(tp, timeout=KAFKA_TIMEOUT_S)
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
        try:
            producer.init_transactions(KAFKA_TIMEOUT_S * 2)
        except KafkaException as exc:
            raise ExecutionStreamError(f"cannot start transactions at {cfg.kafka.bootstrap}: {exc.args[0]}") from None
        saved = self._restore(accounts, live)
        consumer = cfg.kafka.consumer(cfg.group, {
            "enable.auto.commit": False, "enable.auto.offset.store": False, "isolation.level": "read_committed",
            "auto.offset.reset": "earliest", "logger": _rdkafka_log})
        self._producer, self._consumer = producer, consumer
        try:
            self._committed = saved.encode() if saved is not None else None
            self._committed_offsets = self._starting_offsets(consumer, saved)
            self._offsets = dict(self._committed_offsets)
            consumer.assign([TopicPartition(t, p, o) for (t, p), o in self._committed_offsets.items()])
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
            first = self._consumer.poll(timeout)
            if first is not None:
                room = max(0, cfg.max_batch - self._batch_records - 1)
                for message in [first, *(self._consumer.consume(room, timeout=0) if room else [])]:
                    self._process(message)
            if self._batch_records and (time.monotonic() >= self._deadline()
                                        or self._batch_records >= cfg.max_batch):
                self._commit()

    def _deadline(self) -> float:
        interval = self.config.commit_interval_s if self._urgent else self.config.quiet_commit_interval_s
        return self._batch_started + interval

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

    def _process(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() in (KafkaError._PARTITION_EOF, KafkaError._TIMED_OUT):
                return
            if error.fatal():
                raise ExecutionStreamError(f"reading {message.topic()} failed: {error}")
            log.warning("reading %s: %s", message.topic(), error)
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        kind = self._inputs.get(topic)
        if kind is None:
            return
        self._note_batch()
        self.counters.records[kind.value] += 1
        value = decode(kind, message.value())
        if kind is Input.SIGNAL:
            out = self.executor.on_signal(value, self._now(value))
        elif kind is Input.TRADE:
            if isinstance(value, market_pb2.Trade) and value.HasField("event_time"):
                time_ns = value.event_time.seconds * NS_PER_S + value.event_time.nanos
                if time_ns > self._newest_trade_ns.get(value.currency_pair, 0):
                    self._newest_trade_ns[value.currency_pair] = time_ns
            out = self.executor.on_trade(value)
        else:
            out = self.executor.on_halt(value)
        self._offsets[(topic, partition)] = offset + 1
        self._emit(out)

    def _now(self, signal: object) -> int:
        """The executor's clock for this signal (see the module docstring)."""
        if self.config.clock == "wall":
            return self._wall_clock_ns()
        if not isinstance(signal, strategy_pb2.Signal) or not signal.HasField("candle_time"):
            return max(self._newest_trade_ns.values(), default=0)
        close = signal.candle_time.seconds * NS_PER_S + signal.candle_time.nanos + TIMEFRAME_NS.get(signal.timeframe,
                                                                                                     0)
        return max(close, self._newest_trade_ns.get(signal.currency_pair, 0))

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
                                  newest_trade_ns=dict(self._newest_trade_ns),
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
            self._newest_trade_ns = {}
        else:
            saved = StreamSnapshot.decode(self._committed)
            self.executor = Executor.restore(self._accounts, saved.executor, live_accounts=live)
            self._newest_trade_ns = dict(saved.newest_trade_ns)
        self._offsets = dict(self._committed_offsets)
        self._consumer.assign([TopicPartition(t, p, o) for (t, p), o in self._committed_offsets.items()])
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

