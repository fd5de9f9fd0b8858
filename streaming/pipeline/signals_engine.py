"""The live strategy engine of one (pair, timeframe) stream, without Beam.

The Beam job (``signals_transforms``) keys candles by ``pair|timeframe`` and hands each
one to ``SignalEngine.on_update`` together with that key's state. Everything that
decides a signal lives here or in ``tradestream.strategies.live.LiveEvaluator``, so unit
tests run it directly.

Per key the engine keeps a ``LiveEvaluator`` in memory and mirrors it into the key's
state, cheaply: a *snapshot* (``export_state``: the candle window and the positions) is
written every ``snapshot_every`` candles, and the candles applied since then go to an
append-only list. A worker that meets a key it does not hold (restart from a Flink
checkpoint, failover, rescaling) rebuilds the evaluator from the snapshot and replays
those candles, which reproduces the positions exactly because evaluation is
deterministic. Writing the 5,510-candle window of the default set on every candle would
cost ~15-25 ms per key; the list append costs microseconds.

Duplicates and revisions: a candle whose (window start, revision) is not newer than the
last one applied is dropped (re-deliveries, stale revisions). A higher revision of the
last bar goes to the evaluator, which re-decides the bar from the position held before
it and never emits a second signal for it. Signals carry a deterministic ``signal_id``,
so the rare re-emission after a restart from a checkpoint is recognisable downstream.

Shards: the strategies of one (pair, timeframe) are split by the frame they are
evaluated on, ``frame_bucket(window)`` (64, 128, ... candles). The library shares an
indicator cache only between strategies on the same frame, so nothing is computed twice,
and the keys ``pair|timeframe|bucket`` spread one stream's work over the parallel
workers (10 pairs give ~70 keys instead of 10, which Flink's key hashing balances far
better). Each shard keeps the window its own strategies need. ``bucket = 0`` means all
strategies in one key (tests, the benchmark's reference).

Windows: a stream the engine meets for the first time, or one with a gap (the stream
was inactive, or candles were skipped), or one whose window is shorter than the active
set now needs, or one that got an entry by a config reload, is *seeded* from the
``candles`` topic (``HistorySource``, as many candles as the whole active set's window)
with the library's ``seed(..., positions="replay")``: each strategy's position is where
a backtest over that history ends. Positions the engine already held are put back after
seeding, so a reload or a gap never loses them. Without a history source an added
entry is replayed over the window the shard holds.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd
from google.protobuf.message import DecodeError

from streaming.pipeline.signals_config import LiveSetSpec, LiveSetWatcher, history_candles
from tradestream.candle_columns import OPTIONAL_STRATEGY_COLUMNS as OPTIONAL_COLUMNS
from tradestream.candle_columns import STRATEGY_INPUT_COLUMNS as CANDLE_COLUMNS
from tradestream.candles.codec import candle_key
from tradestream.strategies.config import ActiveStrategySet
from tradestream.strategies.live import (
    MIN_BUCKET,
    STATE_FORMAT,
    LiveEvaluator,
    LiveSignal,
    evaluate_last_bar,
    frame_bucket,
    to_live_candle,
)
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.timeframes import NS_PER_MS, TIMEFRAME_NS
from tradestream.v1 import market_pb2

log = logging.getLogger(__name__)

SOURCE = "pipeline:signals"
DEFAULT_SNAPSHOT_EVERY = 16


# ---------------------------------------------------------------- candles in


class RejectedCandle(ValueError):
    """A ``candles`` record the engine cannot use. ``reason`` is the dead-letter reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class CandleUpdate(NamedTuple):
    """One decoded, validated candle record: what flows from decoding to the keyed engine."""

    pair: str
    timeframe: str
    window_start_ms: int
    revision: int
    values: tuple[float, ...]  # CANDLE_COLUMNS order; NaN where an optional column is missing
    partition: int
    offset: int
    bucket: int = 0           # the shard: strategies evaluated on this frame size; 0 = all strategies

    @property
    def key(self) -> str:
        """The engine's name for the shard: ``pair|timeframe`` plus ``|b<bucket>`` for a shard."""
        return shard_key(self.pair, self.timeframe, self.bucket)

    def as_candle(self) -> dict[str, Any]:
        """The mapping ``LiveEvaluator.on_candle`` reads."""
        candle: dict[str, Any] = {"pair": self.pair, "timeframe": self.timeframe,
                                  "window_start": self.window_start_ms}
        for name, value in zip(CANDLE_COLUMNS, self.values, strict=True):
            if not (math.isnan(value) and name in OPTIONAL_COLUMNS):
                candle[name] = value
        return candle


def decode_candle(value: bytes | None, key: bytes | None, partition: int = 0, offset: int = 0) -> CandleUpdate:
    """The candle in a ``candles`` record, or RejectedCandle: ``undecodable_candle`` (not a
    Candle protobuf) or ``invalid_candle`` (a Candle breaking the contract of market.proto)."""
    if not value:
        raise RejectedCandle("undecodable_candle", "record has no value; a candles record holds a Candle protobuf")
    try:
        message = market_pb2.Candle.FromString(value)
    except DecodeError as exc:
        raise RejectedCandle("undecodable_candle",
                             f"value of {len(value)} bytes is not a Candle protobuf: {exc}") from None
    if not message.currency_pair and not message.timeframe:
        # random bytes can parse as a message of unknown fields only
        raise RejectedCandle("undecodable_candle",
                             f"value of {len(value)} bytes holds no Candle fields (no currency_pair, no timeframe)")
    if not message.HasField("window_start") or message.window_start.seconds <= 0:
        raise RejectedCandle("invalid_candle", f"candle {message.currency_pair}|{message.timeframe} has no "
                                               "window_start")
    try:
        live = to_live_candle(message)
    except ValueError as exc:
        raise RejectedCandle("invalid_candle", str(exc)) from None
    expected = candle_key(live.pair, live.timeframe)
    if key is not None and key != expected:
        raise RejectedCandle("invalid_candle", f"record key {key!r} differs from the candle's {expected!r}; "
                                               "candles are keyed pair|timeframe")
    return CandleUpdate(live.pair, live.timeframe, live.window_start.value // NS_PER_MS, int(message.revision),
                        live.values, partition, offset)


def shard_key(pair: str, timeframe: str, bucket: int) -> str:
    """``pair|timeframe|b<bucket>`` (``pair|timeframe`` for bucket 0, all strategies in one key)."""
    return f"{pair}|{timeframe}|b{bucket}" if bucket else f"{pair}|{timeframe}"


def shard_buckets(timeframe: str, history_hours: float) -> tuple[int, ...]:
    """Every frame bucket a strategy on ``timeframe`` can have, given the history limit
    (``limit_to_history`` refuses longer windows): 64, 128, ... up to the history's bucket."""
    largest = frame_bucket(history_candles(timeframe, history_hours))
    return tuple(1 << n for n in range(MIN_BUCKET.bit_length() - 1, largest.bit_length()))


# ---------------------------------------------------------------- placing shards on workers

# Flink's default max parallelism (number of key groups) for jobs up to parallelism 85:
# KeyGroupRangeAssignment.computeDefaultMaxParallelism rounds 1.5 x parallelism up to a power
# of two, at least 128.
FLINK_DEFAULT_MAX_PARALLELISM = 128

# Evaluation cost of a shard by frame bucket (ms per candle of the default set on this
# machine's class of CPU: 25 short-frame strategies at 64, MACD/ADX/stochastic families at
# 1,024 and 2,048). Only the ratios matter, and they only steer placement: a custom set
# balances less well but evaluates the same.
SHARD_WEIGHTS = {64: 20.0, 128: 5.0, 256: 3.0, 512: 5.0, 1024: 20.0, 2048: 19.0, 4096: 1.0, 8192: 2.0}


def _murmur_finalize(code: int) -> int:
    """org.apache.flink.util.MathUtils.murmurHash for one int, as a non-negative int."""
    mask = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    code = rotl((code * 0xCC9E2D51) & mask, 15)
    code = rotl((code * 0x1B873593) & mask, 13)
    h = ((code * 5 + 0xE6546B64) & mask) ^ 4
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return signed if signed >= 0 else (-signed if signed != -(1 << 31) else 0)


def flink_subtask(key: str, parallelism: int, max_parallelism: int = FLINK_DEFAULT_MAX_PARALLELISM) -> int:
    """The parallel subtask Flink routes a Beam ``str`` key to.

    Beam's Flink runner keys a stateful stage by the key's encoding in the nested context
    (``FlinkKeyUtils.encodeKey``: a varint length and the UTF-8 bytes) wrapped in a
    ``ByteBuffer``; Flink hashes ``ByteBuffer.hashCode()`` with murmur into one of
    ``max_parallelism`` key groups, and key groups are split into contiguous ranges per
    subtask (``KeyGroupRangeAssignment``). Checked against a real run in
    tests/pipeline/test_signals_routing.py.
    """
    data = key.encode()
    length, prefix = len(data), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        prefix.append(byte | 0x80 if length else byte)
        if not length:
            break
    h = 1
    for byte in reversed(bytes(prefix) + data):  # ByteBuffer.hashCode: signed bytes, last to first
        h = (31 * h + (byte - 256 if byte >= 128 else byte)) & 0xFFFFFFFF
    key_group = _murmur_finalize(h) % max_parallelism
    return key_group * parallelism // max_parallelism


class ShardRouter:
    """The state key of each shard, chosen so that Flink spreads a stream's work evenly.

    Flink places keys by hash; with ~70 keys of very unequal cost (a 64-candle shard of 25
    strategies next to a 4,096-candle shard of none) the two workers of the default job got
    59% and 41% of the work (measured). The router plans each stream on its own: shards
    heaviest first (``SHARD_WEIGHTS``), each to the least loaded subtask, the tie-break
    rotated per stream so that the heavier half of each stream's split alternates between
    workers. A shard whose plain key ``pair|timeframe|b<bucket>`` does not hash to its
    subtask gets the first ``@<n>`` suffix that does (``flink_subtask``).

    The plan depends only on the stream, the buckets and the parallelism, never on the
    strategy config, so keys are stable across restarts and reloads. A restart with another
    parallelism moves some shards to new keys: those seed again from the topic.
    """

    def __init__(self, parallelism: int, history_hours: float,
                 max_parallelism: int = FLINK_DEFAULT_MAX_PARALLELISM):
        if parallelism < 1:
            raise ValueError(f"parallelism {parallelism} must be at least 1")
        self.parallelism = parallelism
        self.history_hours = history_hours
        self.max_parallelism = max_parallelism
        self._plans: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {}

    def shards(self, pair: str, timeframe: str) -> tuple[tuple[int, str], ...]:
        """(bucket, state key) of every shard of the stream."""
        plan = self._plans.get((pair, timeframe))
        if plan is None:
            plan = self._plans[(pair, timeframe)] = self._plan(pair, timeframe)
        return plan

    def _plan(self, pair: str, timeframe: str) -> tuple[tuple[int, str], ...]:
        buckets = shard_buckets(timeframe, self.history_hours)
        if self.parallelism == 1:
            return tuple((b, shard_key(pair, timeframe, b)) for b in buckets)
        rotation = zlib.crc32(f"{pair}|{timeframe}".encode()) % self.parallelism
        loads = [0.0] * self.parallelism
        plan = []
        for bucket in sorted(buckets, key=lambda b: (-SHARD_WEIGHTS.get(b, 1.0), b)):
            target = min(range(self.parallelism),
                         key=lambda i: (loads[i], (i - rotation) % self.parallelism))
            loads[target] += SHARD_WEIGHTS.get(bucket, 1.0)
            plan.append((bucket, self._key_on(shard_key(pair, timeframe, bucket), target)))
        return tuple(sorted(plan))

    def _key_on(self, base: str, target: int) -> str:
        key, salt = base, 0
        while flink_subtask(key, self.parallelism, self.max_parallelism) != target:
            salt += 1
            key = f"{base}@{salt}"
        return key


def shard_entries(active: ActiveStrategySet, bucket: int) -> ActiveStrategySet:
    """The entries of ``active`` evaluated on frames of ``bucket`` candles (0: all of them)."""
    if not bucket:
        return active
    return ActiveStrategySet.of(e for e in active if frame_bucket(e.window) == bucket)


def candles_frame(times_ms: Sequence[int], rows: Sequence[Sequence[float | None]]) -> pd.DataFrame:
    """A candle frame (UTC window starts, CANDLE_COLUMNS) from rows; optional columns with a gap
    are dropped, as the live evaluator's own window does."""
    data = np.array([[math.nan if v is None else v for v in row] for row in rows],
                    dtype="float64").reshape(len(rows), len(CANDLE_COLUMNS))
    index = pd.DatetimeIndex(np.asarray(times_ms, dtype="int64") * NS_PER_MS, tz="UTC", name="window_start")
    frame = pd.DataFrame(data, columns=list(CANDLE_COLUMNS), index=index)
    gaps = [c for c in OPTIONAL_COLUMNS if frame[c].isna().any()]
    return frame.drop(columns=gaps) if gaps else frame


# ---------------------------------------------------------------- history and state


@dataclass(frozen=True)
class StreamHistory:
    """Final candles of one stream before a record, and whether they are its whole history."""

    frame: pd.DataFrame | None
    complete: bool
    records_read: int = 0


class HistoryReadError(RuntimeError):
    """History could not be read for seeding; the message names the source and the stream."""


class HistorySource(Protocol):
    def read(self, pair: str, timeframe: str, *, partition: int, before_offset: int, before_ms: int,
             bars: int) -> StreamHistory:
        """The last ``bars`` (or more) final candles of the stream with window start before
        ``before_ms``, from records before ``before_offset`` of ``partition``."""
        ...


class KeyState(Protocol):
    """One key's persistent state (Beam state in the job)."""

    def read_meta(self) -> dict[str, int] | None: ...
    def write_meta(self, meta: dict[str, int]) -> None: ...
    def read_snapshot(self) -> dict[str, Any] | None: ...
    def write_snapshot(self, snapshot: dict[str, Any]) -> None: ...
    def read_recent(self) -> Iterable[CandleUpdate]: ...
    def add_recent(self, update: CandleUpdate) -> None: ...
    def clear_recent(self) -> None: ...


@dataclass
class MemoryKeyState:
    """KeyState in plain attributes: for running the engine outside Beam (tests, benchmarks)."""

    meta: dict[str, int] | None = None
    snapshot: dict[str, Any] | None = None
    recent: list[CandleUpdate] = dataclasses.field(default_factory=list)

    def read_meta(self) -> dict[str, int] | None:
        return None if self.meta is None else dict(self.meta)

    def write_meta(self, meta: dict[str, int]) -> None:
        self.meta = dict(meta)

    def read_snapshot(self) -> dict[str, Any] | None:
        return self.snapshot

    def write_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def read_recent(self) -> Iterable[CandleUpdate]:
        return list(self.recent)

    def add_recent(self, update: CandleUpdate) -> None:
        self.recent.append(update)

    def clear_recent(self) -> None:
        self.recent.clear()


# ---------------------------------------------------------------- the engine


@dataclass
class _HeldStream:
    evaluator: LiveEvaluator
    seq: int        # the state's sequence number this evaluator reflects
    version: int    # the active-set version it runs


class SignalEngine:
    """Evaluates the active strategy set on each candle of the keys one worker holds."""

    def __init__(self, live_set: LiveSetSpec, *, history: HistorySource | None = None,
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY, clock: Callable[[], float] = time.monotonic,
                 count: Callable[[str, int], None] | None = None):
        if snapshot_every < 1:
            raise ValueError(f"snapshot_every={snapshot_every} must be at least 1")
        self.watcher = LiveSetWatcher(live_set, clock)
        self.history = history
        self.snapshot_every = snapshot_every
        self.counts: Counter[str] = Counter()
        self._count_hook = count
        self._held: dict[str, _HeldStream] = {}
        self._shards: dict[tuple[int, int], ActiveStrategySet] = {}  # (version, bucket) -> entries
        self._histories: dict[tuple, StreamHistory] = {}  # shards of one stream seed from one read

    def _shard(self, bucket: int) -> tuple[ActiveStrategySet, int]:
        """The current entries of shard ``bucket`` and the active-set version."""
        version = self.watcher.version
        shard = self._shards.get((version, bucket))
        if shard is None:
            if any(v != version for v, _ in self._shards):
                self._shards.clear()
            shard = self._shards[(version, bucket)] = shard_entries(self.watcher.active, bucket)
        return shard, version

    @property
    def active(self) -> ActiveStrategySet:
        return self.watcher.active

    def _count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n
        if self._count_hook is not None:
            self._count_hook(name, n)

    def warm_up(self) -> None:
        """Evaluate every active strategy once on synthetic candles, so the first real candle
        does not pay for pandas-ta's lazy imports and numba's cache loading."""
        entries = ActiveStrategySet.of(dataclasses.replace(e, pairs=None, timeframes=("1m",))
                                       for e in self.active).for_stream("WARM-UP", "1m")
        if not entries:
            return
        bars = max(e.lookback for e in entries) + 2
        frame = synthetic_candles(days=bars / 1440 + 0.01).iloc[-bars:]
        started = time.perf_counter()
        evaluate_last_bar(frame, entries, complete=True)
        log.info("warmed up %d strategies in %.1f s", len(entries), time.perf_counter() - started)

    # ------------------------------------------------------------------ one candle
    def on_update(self, update: CandleUpdate, state: KeyState) -> list[LiveSignal]:
        """Signals for one candle of ``update.key``, updating that key's ``state``."""
        self.watcher.poll()
        active, version = self._shard(update.bucket)
        if not active.for_stream(update.pair, update.timeframe):
            self._count("candles_inactive")
            return []
        meta = state.read_meta()
        if meta is not None and (update.window_start_ms, update.revision) <= (meta["time_ms"], meta["revision"]):
            self._count("candles_stale")  # re-delivered, an older revision, or an older bar
            return []
        held = self._held.get(update.key)
        recheck = False
        if held is None or meta is None or held.seq != meta["seq"]:
            held = self._restore(update.key, meta, state, active, version)
            recheck = True
        elif held.version != version:
            held.evaluator.reload(active)
            held.version = version
            recheck = True
        seeded = self._fit_window(held.evaluator, update, meta, active, recheck)
        signals = held.evaluator.on_candle(update.as_candle())
        self._count("candles_evaluated")
        if signals:
            self._count("signals_emitted", len(signals))

        seq = (meta["seq"] if meta else 0) + 1
        pending = meta["pending"] if meta else 0
        if seeded or recheck or pending + 1 >= self.snapshot_every:
            state.write_snapshot(held.evaluator.export_state(update.pair, update.timeframe))
            state.clear_recent()
            pending = 0
        else:
            state.add_recent(update)
            pending += 1
        state.write_meta({"seq": seq, "time_ms": update.window_start_ms, "revision": update.revision,
                          "pending": pending})
        held.seq = seq
        return signals

    def _restore(self, key: str, meta: dict[str, int] | None, state: KeyState, active: ActiveStrategySet,
                 version: int) -> _HeldStream:
        evaluator = LiveEvaluator(active)
        if meta is not None:
            snapshot = state.read_snapshot()
            if snapshot is not None:
                evaluator.import_state(snapshot)
            replayed = 0
            for update in state.read_recent():
                evaluator.on_candle(update.as_candle())  # its signals went out when the candle first came
                replayed += 1
            self._count("streams_restored")
            log.info("restored %s from its state (%d candles replayed after the snapshot)", key, replayed)
        held = self._held[key] = _HeldStream(evaluator, meta["seq"] if meta else 0, version)
        return held

    def _fit_window(self, evaluator: LiveEvaluator, update: CandleUpdate, meta: dict[str, int] | None,
                    active: ActiveStrategySet, recheck: bool) -> bool:
        """Seed the stream's window when it is new, has a gap, is shorter than the active set
        needs, or an entry was added; keeps every position already held. True when seeded."""
        pair, timeframe = update.pair, update.timeframe
        first = meta is None
        step_ms = TIMEFRAME_NS[timeframe] // NS_PER_MS
        gap = meta is not None and update.window_start_ms > meta["time_ms"] + step_ms
        if not (first or gap or recheck):
            return False
        exported = evaluator.export_state(pair, timeframe)
        window = exported["streams"][0] if exported["streams"] else None
        held_bars = len(window["times"]) if window else 0
        complete = bool(window["complete"]) if window else True
        positions = exported["positions"]
        decided = {p["key"] for p in positions}
        added = [e.key for e in active.for_stream(pair, timeframe) if e.key not in decided]
        need = active.window_for(pair, timeframe)

        history, history_complete, origin = None, complete, ""
        # An added entry's position is replayed over history; a shard's own window can be a few
        # dozen candles, too short for that, so the topic's longer history comes first.
        if self.history is not None and (first or gap or added or (not complete and held_bars < need)):
            found = self._read_history(update)
            if found.frame is not None and (gap or len(found.frame) > held_bars or (added and not first)):
                history, history_complete, origin = found.frame, found.complete, "the candles topic"
        if history is None and added and held_bars > 0 and not first:
            history, origin = candles_frame(window["times"], window["rows"]), "its own window"
        if history is None:
            return False
        evaluator.seed(pair, timeframe, history, positions="replay", complete=history_complete)
        if positions:  # positions already held win over the replayed ones
            evaluator.import_state({"format": STATE_FORMAT, "streams": [], "positions": positions})
        self._count("streams_seeded")
        log.info("seeded %s from %s: %d candles up to %s (%s); %d positions kept, %d entries start from a "
                 "replay", update.key, origin, len(history), history.index[-1].isoformat(),
                 "whole history" if history_complete else "partial history", len(positions), len(added))
        return True

    def _read_history(self, update: CandleUpdate) -> StreamHistory:
        """The stream's history before ``update``, as long as the whole active set's window, so
        every shard replays its positions over the same candles an unsharded engine would.
        The shards of a stream a worker holds share one read."""
        pair, timeframe = update.pair, update.timeframe
        cache_key = (pair, timeframe, update.partition, update.offset, self.watcher.version)
        found = self._histories.get(cache_key)
        if found is not None:
            return found
        bars = self.watcher.active.window_for(pair, timeframe)
        try:
            found = self.history.read(pair, timeframe, partition=update.partition, before_offset=update.offset,
                                      before_ms=update.window_start_ms, bars=bars)
        except HistoryReadError as exc:
            # evaluating without history beats stopping: the window fills from live candles
            log.error("%s|%s: no history for seeding (%s); its window fills from live candles", pair, timeframe,
                      exc)
            self._count("seeding_failures")
            found = StreamHistory(None, False)
        if len(self._histories) >= 16:
            self._histories.clear()
        self._histories[cache_key] = found
        return found
