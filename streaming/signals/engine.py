"""The live strategy engine of one (pair, timeframe) stream, without Beam.

The Beam job (``streaming.signals.transforms``) keys candles by ``pair|timeframe`` and hands each
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

Two evaluators (``ENGINES``): ``incremental`` (the default), ``IncrementalEvaluator``,
whose indicators advance one bar per candle, and ``window``, the reference
``LiveEvaluator``, which re-runs pandas-ta over each stream's window. They decide the same
signals (tests/strategies/test_no_skew.py); the incremental one costs a fraction.

Shards (window engine): the strategies of one (pair, timeframe) are split by the frame
they are evaluated on, ``frame_bucket(window)`` (64, 128, ... candles). The library shares
an indicator cache only between strategies on the same frame, so nothing is computed
twice, and the keys ``pair|timeframe|bucket`` spread one stream's work over the parallel
workers (10 pairs give ~70 keys instead of 10, which Flink's key hashing balances far
better). Each shard keeps the window its own strategies need. ``bucket = 0`` means all
strategies in one key: the incremental engine's keys (a stream's cost no longer depends
on its strategies' windows), tests, the benchmark's reference.

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
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from streaming.signals.decoding import CandleUpdate
from streaming.signals.history import HistoryReadError, HistorySource, StreamHistory
from streaming.signals.live_set import LiveSetSpec, LiveSetWatcher
from streaming.signals.routing import shard_entries
from streaming.signals.state import KeyState
from tradestream.strategies.config import ActiveStrategySet
from tradestream.strategies.incremental.evaluator import IncrementalEvaluator
from tradestream.strategies.live import LiveEvaluator, LiveSignal
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.timeframes import NS_PER_MS, TIMEFRAME_NS

log = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_EVERY = 16
Engine = Literal["incremental", "window"]
ENGINES: dict[str, type[IncrementalEvaluator] | type[LiveEvaluator]] = {
    "incremental": IncrementalEvaluator, "window": LiveEvaluator}
DEFAULT_ENGINE: Engine = "incremental"


def check_engine(engine: str, error: type[ValueError] = ValueError) -> Engine:
    if engine not in ENGINES:
        raise error(f"engine {engine!r} is not one of {', '.join(ENGINES)}: 'incremental' advances each "
                    "indicator one bar per candle, 'window' re-runs pandas-ta over each stream's window (reference)")
    return engine  # type: ignore[return-value]


@dataclass
class _HeldStream:
    evaluator: IncrementalEvaluator | LiveEvaluator
    seq: int        # the state's sequence number this evaluator reflects
    version: int    # the active-set version it runs


class SignalEngine:
    """Evaluates the active strategy set on each candle of the keys one worker holds."""

    def __init__(self, live_set: LiveSetSpec, *, history: HistorySource | None = None,
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY, clock: Callable[[], float] = time.monotonic,
                 count: Callable[[str, int], None] | None = None, engine: Engine = DEFAULT_ENGINE):
        if snapshot_every < 1:
            raise ValueError(f"snapshot_every={snapshot_every} must be at least 1")
        self.engine = check_engine(engine)
        self._evaluator = ENGINES[engine]
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
        frame = synthetic_candles(days=(bars + 1) / 1440 + 0.01).iloc[-bars - 1:]
        started = time.perf_counter()
        evaluator = self._evaluator(ActiveStrategySet.of(entries))
        evaluator.seed("WARM-UP", "1m", frame.iloc[:-1], positions="replay", complete=True)
        evaluator.on_candle({"pair": "WARM-UP", "timeframe": "1m", "window_start": frame.index[-1],
                             **frame.iloc[-1].to_dict()})
        log.info("warmed up %d strategies (%s engine) in %.1f s", len(entries), self.engine,
                 time.perf_counter() - started)

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
        signals = held.evaluator.on_candle(update.live_candle())
        self._count("candles_evaluated")
        if signals:
            self._count("signals_emitted", len(signals))

        seq = (meta["seq"] if meta else 0) + 1
        pending = meta["pending"] if meta else 0
        if seeded or recheck or pending + 1 >= self.snapshot_every:
            state.write_snapshot(_snapshot(held.evaluator, update.pair, update.timeframe))
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
        evaluator = self._evaluator(active)
        if meta is not None:
            snapshot = state.read_snapshot()
            if snapshot is not None:
                evaluator.import_state(snapshot)
            replayed = 0
            for update in state.read_recent():
                evaluator.on_candle(update.live_candle())  # its signals went out when the candle first came
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
        held_bars, complete, window = evaluator.history_of(pair, timeframe)
        positions = evaluator.positions_of(pair, timeframe)
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
        if history is None and added and window is not None and not first:
            history, origin = window, "its own window"
        if history is None:
            return False
        evaluator.seed(pair, timeframe, history, positions="replay", complete=history_complete)
        if positions:  # positions already held win over the replayed ones
            evaluator.restore_positions(positions)
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


def _snapshot(evaluator: IncrementalEvaluator | LiveEvaluator, pair: str, timeframe: str) -> dict:
    """What the key's ``snapshot`` cell keeps: the window engine its candle window and positions;
    the incremental engine its indicator state and positions, without its kept candles (a
    reload that adds indicators after a restore seeds them from the topic)."""
    if isinstance(evaluator, IncrementalEvaluator):
        return evaluator.export_state(pair, timeframe, candles=False)
    return evaluator.export_state(pair, timeframe)
