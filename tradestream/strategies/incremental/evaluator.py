"""``IncrementalEvaluator``: the live evaluator on incremental indicators.

The same contract as ``tradestream.strategies.live.LiveEvaluator`` (the reference, which
re-runs pandas-ta over each stream's window on every candle): candles in, BUY/SELL
``LiveSignal``s out, positions per (strategy, parameters, pair, timeframe) under the
shared long-only rules, revisions of the last bar, late candles ignored, seeding with
replayed positions, reloads that keep positions, state export and import.

What differs is the work per candle. Each stream's strategies are compiled into one
program (``program.py``) whose indicators keep their state and advance one bar in
``kernels.step``: no pandas, no window re-run. Streams with the same strategy set share
the program, so a batch of candles from many pairs (``on_candles``) is evaluated in one
kernel call per program. A revision rolls the stream's state back to the copy taken
before its last bar and applies the bar again.

Exactness: a stream's indicators equal pandas-ta's over the stream's history, bit for bit
(tests/strategies/test_incremental.py checks every indicator and every strategy on every
bar of the synthetic month). When the state began inside the history (seeding from a
partial history, a restart without state), an entry waits until it has seen its
``window`` bars, as the reference does, and from then on equals the full-history backtest
(tests/strategies/test_no_skew.py runs its checks on both evaluators).

An entry whose rules use something without an incremental form (``NotIncremental``) runs
on the window path: a ``LiveEvaluator`` inside this one holds it. Every indicator of the
library has a builder, so that is for indicators registered later.

The evaluator keeps each stream's last ``window_for`` candles too: a reload that adds an
indicator replays them into the new operations. Operations both programs share carry
their state over, so removing an entry costs nothing.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from tradestream.candle_columns import STRATEGY_INPUT_COLUMNS
from tradestream.params import ParamValue, params_key
from tradestream.strategies.candles import validate_candles
from tradestream.strategies.config import ActiveEntry, ActiveStrategySet
from tradestream.strategies.incremental import kernels as K
from tradestream.strategies.incremental.program import NotIncremental, Program, compile_rules
from tradestream.strategies.live import (
    BUY,
    FLAT,
    LONG,
    SELL,
    LiveCandle,
    LiveEvaluator,
    LiveSignal,
    ReloadReport,
    live_signal,
    to_live_candle,
)
from tradestream.strategies.positions import positions_after, trade_signals
from tradestream.timeframes import NS_PER_MS

log = logging.getLogger(__name__)

STATE_FORMAT = "tradestream.incremental/1"
_COLUMNS = len(STRATEGY_INPUT_COLUMNS)
_EMITTED = {0: None, 1: "BUY", -1: "SELL"}
_EMITTED_CODE = {None: 0, "BUY": 1, "SELL": -1}
_NEVER = np.iinfo(np.int64).min  # bar_time of an entry that never decided (no position to report)


class _Group:
    """The streams running one program: their states, positions and scratch space as arrays."""

    def __init__(self, program: Program, entries: Sequence[ActiveEntry]):
        self.program = program
        self.entries = tuple(entries)
        self.keys = tuple(e.key for e in entries)
        self.lookback = np.array([e.lookback for e in entries], dtype=np.int64)
        self.window = np.array([e.window for e in entries], dtype=np.int64)
        self.rules = program.rule_slots
        self.size = 0
        capacity = 4
        self.state = program.fresh_state(capacity)
        self.before = program.fresh_state(capacity)
        self.vals = np.zeros((capacity, program.n_slots))
        self.complete = np.zeros(capacity, dtype=np.bool_)
        e = len(self.entries)
        self.start = np.zeros((capacity, e), dtype=np.int64)
        self.position = np.zeros((capacity, e), dtype=np.int8)
        self.position_before = np.zeros((capacity, e), dtype=np.int8)
        self.emitted = np.zeros((capacity, e), dtype=np.int8)
        self.bar_time = np.full((capacity, e), _NEVER, dtype=np.int64)
        self.free: list[int] = []

    def add(self) -> int:
        """A row for a new stream, fresh state, flat positions."""
        if self.free:
            row = self.free.pop()
        else:
            if self.size == self.state.shape[0]:
                self._grow()
            row = self.size
            self.size += 1
        self.state[row] = self.program.template
        self.before[row] = self.program.template
        self.complete[row] = True
        self.start[row] = 0
        self.position[row] = FLAT
        self.position_before[row] = FLAT
        self.emitted[row] = 0
        self.bar_time[row] = _NEVER
        return row

    def release(self, row: int) -> None:
        self.free.append(row)

    def _grow(self) -> None:
        for name in ("state", "before", "vals", "complete", "start", "position", "position_before", "emitted",
                     "bar_time"):
            old = getattr(self, name)
            new = np.empty((old.shape[0] * 2, *old.shape[1:]), dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def bars(self, row: int) -> int:
        return int(self.state[row, 0])


@dataclass
class _Stream:
    pair: str
    timeframe: str
    group: _Group | None       # None: no incremental entry on this stream
    row: int
    keep: int                  # candles kept for replays (the stream's window)
    times: list[int] = field(default_factory=list)        # window starts (ns) of the kept candles
    rows: list[tuple[float, ...]] = field(default_factory=list)
    last_time: int | None = None
    bars_seen: int = 0

    def remember(self, candle: LiveCandle, status: str) -> None:
        if status == "revision":
            self.rows[-1] = candle.values
            return
        self.times.append(candle.window_start.value)
        self.rows.append(candle.values)
        if len(self.times) > 2 * self.keep:  # trim in blocks: amortised O(1)
            del self.times[: len(self.times) - self.keep]
            del self.rows[: len(self.rows) - self.keep]

    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        times = np.array(self.times[-self.keep:], dtype=np.int64) if self.keep else np.zeros(0, dtype=np.int64)
        rows = np.array(self.rows[-self.keep:], dtype=np.float64).reshape(len(times), _COLUMNS)
        return times, rows


class IncrementalEvaluator:
    """Evaluates the active strategy set candle by candle on incremental indicators.
    Not thread-safe: one per worker. Same interface as ``LiveEvaluator``."""

    def __init__(self, active_set: ActiveStrategySet | None = None):
        self._active = active_set if active_set is not None else ActiveStrategySet.default()
        self._groups: dict[tuple[str, ...], _Group] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._dormant: dict[tuple[str, str, str], tuple[int, int | None, int, str | None]] = {}
        self._window = LiveEvaluator(ActiveStrategySet.of(()))  # entries without an incremental form
        self._window_keys: set[str] = set()
        self._split_cache: dict[tuple[str, ...], tuple[list[ActiveEntry], list[ActiveEntry]]] = {}
        self.late_candles = 0
        self.errors: dict[tuple[str, str, str], str] = {}
        self._set_window_entries()

    @property
    def active_set(self) -> ActiveStrategySet:
        return self._active

    # ------------------------------------------------------------------ programs
    def _split(self, entries: list[ActiveEntry]) -> tuple[list[ActiveEntry], list[ActiveEntry]]:
        """(incremental entries, window-path entries) of a stream's entry list."""
        key = tuple(e.key for e in entries)
        found = self._split_cache.get(key)
        if found is None:
            incremental, window = [], []
            for e in entries:
                try:
                    compile_rules([(e.key, e.spec, e.params)])
                    incremental.append(e)
                except NotIncremental as exc:
                    log.info("%s runs on the window path: %s", e.key, exc)
                    window.append(e)
            found = self._split_cache[key] = (incremental, window)
        return found

    def _set_window_entries(self) -> None:
        window = {e.key: e for e in self._active if self._split([e])[1]}
        self._window_keys = set(window)
        self._window.reload(ActiveStrategySet.of(window.values()))

    def _group(self, entries: list[ActiveEntry]) -> _Group | None:
        if not entries:
            return None
        keys = tuple(e.key for e in entries)
        group = self._groups.get(keys)
        if group is None:
            program = compile_rules([(e.key, e.spec, e.params) for e in entries])
            group = self._groups[keys] = _Group(program, entries)
        return group

    def _stream(self, pair: str, timeframe: str) -> _Stream:
        stream = self._streams.get((pair, timeframe))
        if stream is None:
            incremental, _ = self._split(self._active.for_stream(pair, timeframe))
            group = self._group(incremental)
            row = group.add() if group is not None else -1
            stream = self._streams[(pair, timeframe)] = _Stream(pair, timeframe, group, row,
                                                                self._active.window_for(pair, timeframe))
            if group is not None:
                self._wake(stream)
        return stream

    # ------------------------------------------------------------------ evaluation
    def on_candle(self, candle: LiveCandle | object) -> list[LiveSignal]:
        """Signals for the newest candle of its (pair, timeframe); [] while warming up."""
        return self.on_candles([candle])

    def on_candles(self, candles: Iterable[LiveCandle | object]) -> list[LiveSignal]:
        """Signals for a batch of candles (any pairs and timeframes, in arrival order).

        Candles of streams sharing a strategy set are evaluated together, one kernel call per
        set and round; a stream with several candles in the batch takes one per round, in order."""
        pending = [c if isinstance(c, LiveCandle) else to_live_candle(c) for c in candles]
        signals: list[LiveSignal] = []
        while pending:
            batch: dict[tuple[str, str], LiveCandle] = {}
            later = []
            for candle in pending:
                if (candle.pair, candle.timeframe) in batch:
                    later.append(candle)
                else:
                    batch[(candle.pair, candle.timeframe)] = candle
            signals += self._round(list(batch.values()))
            pending = later
        return signals

    def _round(self, candles: list[LiveCandle]) -> list[LiveSignal]:
        by_group: dict[int, tuple[_Group, list[tuple[_Stream, LiveCandle, bool]]]] = {}
        signals: list[LiveSignal] = []
        window_candles = []
        for candle in candles:
            stream = self._stream(candle.pair, candle.timeframe)
            t = candle.window_start.value
            if stream.last_time is not None and t < stream.last_time:
                self.late_candles += 1
                log.debug("ignoring late candle %s|%s at %s", candle.pair, candle.timeframe, candle.window_start)
                continue
            revision = stream.last_time == t
            stream.remember(candle, "revision" if revision else "new")
            if not revision:
                stream.bars_seen += 1
            stream.last_time = t
            if self._window_keys:
                window_candles.append(candle)
            if stream.group is not None:
                by_group.setdefault(id(stream.group), (stream.group, []))[1].append((stream, candle, revision))
        for group, items in by_group.values():
            signals += self._evaluate(group, items)
        for candle in window_candles:
            signals += self._window.on_candle(candle)
            self.errors.update(self._window.errors)
        return signals

    def _evaluate(self, group: _Group, items: list[tuple[_Stream, LiveCandle, bool]]) -> list[LiveSignal]:
        n = len(items)
        rows = np.fromiter((s.row for s, _, _ in items), dtype=np.int64, count=n)
        candles = np.array([c.values for _, c, _ in items], dtype=np.float64).reshape(n, _COLUMNS)
        revision = np.fromiter((r for _, _, r in items), dtype=np.bool_, count=n)
        times = np.fromiter((c.window_start.value for _, c, _ in items), dtype=np.int64, count=n)
        decided = np.empty((n, group.rules.size))
        p = group.program
        K.step(p.code, p.fconst, p.weights, group.state, group.before, group.vals, rows, candles, revision,
               group.rules, decided)
        bars = group.state[rows, 0].astype(np.int64)
        self._mark_missing_columns(group, items, decided)
        actions = np.zeros((n, len(group.entries)), dtype=np.int8)
        K.decide(rows, times, bars, group.complete, decided, group.lookback, group.window, group.start,
                 group.position, group.position_before, group.emitted, group.bar_time, actions)
        signals = []
        for j, e in zip(*np.nonzero(actions), strict=True):
            signals.append(live_signal(group.entries[e], items[j][1], int(actions[j, e])))
        return signals

    def _mark_missing_columns(self, group: _Group, items: list[tuple[_Stream, LiveCandle, bool]],
                              decided: np.ndarray) -> None:
        """An entry reading an optional column the candle lacks (NaN) does not decide on it."""
        for j, (stream, candle, _) in enumerate(items):
            missing = {c for c, v in zip(STRATEGY_INPUT_COLUMNS, candle.values, strict=True) if v != v}
            if not missing and not self.errors:
                continue
            for e, entry in enumerate(group.entries):
                error_key = (entry.key, stream.pair, stream.timeframe)
                lacking = sorted(missing & entry.spec.columns) if missing else []
                if lacking:
                    message = (f"{entry.strategy} needs candle column(s) {lacking}, which the candle at "
                               f"{candle.window_start.isoformat()} lacks")
                    if error_key not in self.errors:
                        log.warning("%s on %s|%s failed: %s", entry.key, stream.pair, stream.timeframe, message)
                    self.errors[error_key] = message
                    decided[j, 2 * e] = decided[j, 2 * e + 1] = 0.0
                else:
                    self.errors.pop(error_key, None)

    # ------------------------------------------------------------------ positions
    def position(self, strategy: str, params: Mapping[str, ParamValue], pair: str, timeframe: str) -> int:
        """1 when long, 0 when flat (also for combinations never seen)."""
        key = f"{strategy}{params_key(params)}"
        if key in self._window_keys:
            return self._window.position(strategy, params, pair, timeframe)
        stream = self._streams.get((pair, timeframe))
        if stream is not None and stream.group is not None and key in stream.group.keys:
            return int(stream.group.position[stream.row, stream.group.keys.index(key)])
        dormant = self._dormant.get((key, pair, timeframe))
        return dormant[0] if dormant else FLAT

    def positions_of(self, pair: str, timeframe: str) -> list[dict[str, object]]:
        """The stream's decided positions, as ``export_state`` lists them."""
        return [p for p in self.export_state(pair, timeframe, candles=False)["positions"]]

    def restore_positions(self, positions: Iterable[Mapping[str, object]]) -> None:
        """Puts positions (``export_state``'s list) back, e.g. after a seed replayed others."""
        self.import_state({"format": STATE_FORMAT, "streams": [], "positions": list(positions)})

    def _put_position(self, key: str, pair: str, timeframe: str, value: tuple[int, int | None, int, str | None]
                      ) -> None:
        position, bar_time, before, emitted = value
        if key in self._window_keys:
            self._window.restore_positions([_position_dict(key, pair, timeframe, value)])
            return
        stream = self._streams.get((pair, timeframe))
        if stream is not None and stream.group is not None and key in stream.group.keys:
            g, e = stream.group, stream.group.keys.index(key)
            g.position[stream.row, e] = position
            g.bar_time[stream.row, e] = -1 if bar_time is None else bar_time
            g.position_before[stream.row, e] = before
            g.emitted[stream.row, e] = _EMITTED_CODE[emitted]
        else:
            self._dormant[(key, pair, timeframe)] = value

    def _wake(self, stream: _Stream) -> None:
        """Positions kept for entries that were not running on the stream come back."""
        assert stream.group is not None
        for key in stream.group.keys:
            value = self._dormant.pop((key, stream.pair, stream.timeframe), None)
            if value is not None:
                self._put_position(key, stream.pair, stream.timeframe, value)

    def _sleep(self, stream: _Stream) -> None:
        """The stream's positions go to the dormant store (its group is about to change)."""
        g = stream.group
        if g is None:
            return
        for e, key in enumerate(g.keys):
            bar_time = int(g.bar_time[stream.row, e])
            if bar_time == _NEVER:
                continue
            self._dormant[(key, stream.pair, stream.timeframe)] = (
                int(g.position[stream.row, e]), None if bar_time < 0 else bar_time,
                int(g.position_before[stream.row, e]), _EMITTED[int(g.emitted[stream.row, e])])

    # ------------------------------------------------------------------ seeding
    def seed(self, pair: str, timeframe: str, history: pd.DataFrame,
             positions: Literal["flat", "replay"] | Mapping[str, int] = "replay",
             complete: bool = False) -> None:
        """Start a stream from stored candles: its indicators run over ``history`` (validated).

        ``positions="replay"`` sets each entry's position to where a backtest over ``history``
        ends; a mapping gives positions per entry key; "flat" leaves them flat.
        ``complete=True`` declares that ``history`` starts where the stream starts."""
        frame = validate_candles(history, owner=f"seed {pair}|{timeframe}")
        if self._window_keys:
            self._window.seed(pair, timeframe, frame, positions=positions, complete=complete)
        values = frame.reindex(columns=list(STRATEGY_INPUT_COLUMNS)).to_numpy(dtype=np.float64)
        times = frame.index.asi8.astype(np.int64)
        old = self._streams.pop((pair, timeframe), None)
        if old is not None and old.group is not None:
            self._sleep(old)
            old.group.release(old.row)
        stream = self._stream(pair, timeframe)
        stream.times = [int(t) for t in times[-stream.keep:]] if stream.keep else []
        stream.rows = [tuple(r) for r in values[-stream.keep:]] if stream.keep else []
        stream.last_time = int(times[-1])
        stream.bars_seen = len(frame)
        g = stream.group
        if g is None:
            return
        g.complete[stream.row] = complete
        recorded = self._replay(g, stream.row, values)
        for e, key in enumerate(g.keys):
            entry = g.entries[e]
            value = (FLAT, None, FLAT, None)
            if positions == "replay":
                if len(frame) > entry.lookback:
                    entries_s = pd.Series(recorded[:, 2 * e] != 0.0)
                    exits_s = pd.Series(recorded[:, 2 * e + 1] != 0.0)
                    held = positions_after(entries_s, exits_s).to_numpy()
                    action = int(trade_signals(entries_s, exits_s).iat[-1])
                    value = (int(held[-1]), int(times[-1]), int(held[-2]) if len(held) > 1 else FLAT,
                             "BUY" if action == BUY else "SELL" if action == SELL else None)
            elif positions != "flat":
                if key in positions:
                    v = positions[key]
                    if v not in (FLAT, LONG):
                        raise ValueError(f"seed position for {key} must be 0 (flat) or 1 (long), got {v!r}")
                    value = (int(v), int(times[-1]), int(v), None)
            self._put_position(key, pair, timeframe, value)

    def _replay(self, g: _Group, row: int, values: np.ndarray) -> np.ndarray:
        """Runs a fresh state of ``row`` over ``values``; keeps the state before the last bar for
        a revision of it. Returns the rule values on every bar."""
        p = g.program
        state = p.template.copy()
        vals = np.zeros(p.n_slots)
        head = K.run(p.code, p.fconst, p.weights, state, values[:-1], g.rules, vals)
        g.before[row] = state
        last = K.run(p.code, p.fconst, p.weights, state, values[-1:], g.rules, vals)
        g.state[row] = state
        g.start[row] = 0
        return np.concatenate([head, last])

    # ------------------------------------------------------------------ history for the engine
    def history_of(self, pair: str, timeframe: str) -> tuple[int, bool, pd.DataFrame | None]:
        """(candles the stream's indicators have seen, whether that is the stream's whole history,
        the candles kept for replays as a frame or None). After a restore from a snapshot without
        candles the indicators still reflect their whole history while no candle is kept."""
        stream = self._streams.get((pair, timeframe))
        if stream is None:
            return 0, True, None
        times, rows = stream.kept()
        g = stream.group
        if g is not None:
            seen, complete = g.bars(stream.row), bool(g.complete[stream.row])
        else:
            seen, complete = len(times), len(times) == stream.bars_seen
        if not len(times):
            return seen, complete, None
        frame = pd.DataFrame(rows, columns=list(STRATEGY_INPUT_COLUMNS),
                             index=pd.DatetimeIndex(times.astype("datetime64[ns]"), tz="UTC"))
        gaps = [c for c in ("vwap", "trade_count") if frame[c].isna().any()]
        return seen, complete, frame.drop(columns=gaps) if gaps else frame

    # ------------------------------------------------------------------ reload
    def reload(self, active_set: ActiveStrategySet) -> ReloadReport:
        """Switch to a new active set. Positions survive (also of removed entries). A stream
        whose strategy set changed moves to the new program: operations both programs have
        keep their state; new ones replay the stream's kept candles."""
        old_keys = {e.key for e in self._active}
        new_keys = {e.key for e in active_set}
        self._active = active_set
        self._set_window_entries()
        for (pair, timeframe), stream in list(self._streams.items()):
            incremental, _ = self._split(active_set.for_stream(pair, timeframe))
            stream.keep = active_set.window_for(pair, timeframe)
            old_group = stream.group
            new_keys_stream = tuple(e.key for e in incremental)
            if (old_group.keys if old_group else ()) == new_keys_stream:
                continue
            self._sleep(stream)
            new_group = self._group(incremental)
            if new_group is None:
                if old_group is not None:
                    old_group.release(stream.row)
                stream.group, stream.row = None, -1
                continue
            row = new_group.add()
            if old_group is not None:
                state, carried = new_group.program.migrate(old_group.program, old_group.state[stream.row])
                before, _ = new_group.program.migrate(old_group.program, old_group.before[stream.row])
                new_group.complete[row] = old_group.complete[stream.row]
                old_group.release(stream.row)
            else:
                state, before, carried = new_group.program.template.copy(), new_group.program.template.copy(), False
                new_group.complete[row] = True
            stream.group, stream.row = new_group, row
            if carried:
                new_group.state[row], new_group.before[row] = state, before
            else:
                self._rebuild(stream, state)
            self._wake(stream)
        report = ReloadReport(added=sorted(new_keys - old_keys), removed=sorted(old_keys - new_keys),
                              kept=sorted(old_keys & new_keys))
        for key, pair, timeframe, value in self._all_positions():
            running = any(e.key == key for e in active_set.for_stream(pair, timeframe))
            if value[0] == LONG and not running:
                report.long_but_inactive.append(f"{key} {pair}|{timeframe}")
        return report

    def _rebuild(self, stream: _Stream, carried_state: np.ndarray) -> None:
        """New operations after a reload: replay the kept candles; without any, they start now
        and the entries reading them wait for their window."""
        g = stream.group
        assert g is not None
        times, rows = stream.kept()
        if len(times) and len(times) >= int(carried_state[0]):  # the kept candles are all the state saw
            self._replay(g, stream.row, rows)
            g.complete[stream.row] = g.complete[stream.row] and len(times) == stream.bars_seen
            return
        if len(times):
            self._replay(g, stream.row, rows)
            g.complete[stream.row] = False
            return
        g.state[stream.row] = carried_state
        g.before[stream.row] = carried_state
        g.start[stream.row] = int(carried_state[0])

    # ------------------------------------------------------------------ state
    def _all_positions(self) -> Iterable[tuple[str, str, str, tuple[int, int | None, int, str | None]]]:
        for (pair, timeframe), stream in self._streams.items():
            g = stream.group
            if g is None:
                continue
            for e, key in enumerate(g.keys):
                bar_time = int(g.bar_time[stream.row, e])
                if bar_time == _NEVER:
                    continue  # never decided (and flat): no position to report, as LiveEvaluator
                yield key, pair, timeframe, (int(g.position[stream.row, e]), None if bar_time < 0 else bar_time,
                                             int(g.position_before[stream.row, e]),
                                             _EMITTED[int(g.emitted[stream.row, e])])
        for (key, pair, timeframe), value in self._dormant.items():
            yield key, pair, timeframe, value

    def export_state(self, pair: str | None = None, timeframe: str | None = None, *,
                     candles: bool = True) -> dict[str, object]:
        """Streams (indicator state, kept candles) and positions as plain dicts (state arrays as
        base64 text), optionally of one pair and/or timeframe; ``candles=False`` leaves out the
        kept candles (the largest part)."""
        def wanted(p: str, tf: str) -> bool:
            return (pair is None or p == pair) and (timeframe is None or tf == timeframe)

        streams = []
        for (p, tf), stream in self._streams.items():
            if not wanted(p, tf):
                continue
            item: dict[str, object] = {"pair": p, "timeframe": tf, "bars_seen": stream.bars_seen,
                                       "last_time": None if stream.last_time is None else stream.last_time // NS_PER_MS}
            g = stream.group
            if g is not None:
                item.update(program=g.program.fingerprint, keys=list(g.keys), complete=bool(g.complete[stream.row]),
                            state=_b64(g.state[stream.row]), before=_b64(g.before[stream.row]),
                            start=[int(x) for x in g.start[stream.row]])
            if candles:
                times, rows = stream.kept()
                item["candles"] = {"columns": list(STRATEGY_INPUT_COLUMNS), "times": _b64(times), "rows": _b64(rows)}
            streams.append(item)
        positions = [_position_dict(key, p, tf, value) for key, p, tf, value in self._all_positions()
                     if wanted(p, tf)]
        state: dict[str, object] = {"format": STATE_FORMAT, "streams": streams, "positions": positions}
        if self._window_keys:
            state["window"] = self._window.export_state(pair, timeframe)
        return state

    def import_state(self, state: Mapping[str, object]) -> None:
        """Restore what ``export_state`` produced (merging: other streams stay as they are). A
        stream whose program changed since (another strategy set) replays its kept candles."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"incremental state must be a mapping with format={STATE_FORMAT!r}, "
                             f"got {state.get('format') if isinstance(state, Mapping) else type(state).__name__!r}")
        if "window" in state:
            self._window.import_state(state["window"])
        for item in _list(state, "streams"):
            try:
                self._import_stream(item)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"incremental state stream entry is malformed ({exc!r}): {_brief(item)}") from None
        for item in _list(state, "positions"):
            try:
                value = (int(item["position"]), None if item["bar_time"] is None else int(item["bar_time"]) * NS_PER_MS,
                         int(item["position_before"]), item["emitted"])
                if value[0] not in (FLAT, LONG) or value[3] not in (None, "BUY", "SELL"):
                    raise ValueError("position must be 0/1 and emitted BUY/SELL/None")
                key, pair, timeframe = item["key"], item["pair"], item["timeframe"]
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"incremental state position entry is malformed ({exc!r}): {_brief(item)}") from None
            self._put_position(key, pair, timeframe, value)

    def _import_stream(self, item: Mapping[str, object]) -> None:
        pair, timeframe = item["pair"], item["timeframe"]
        old = self._streams.pop((pair, timeframe), None)
        if old is not None and old.group is not None:
            self._sleep(old)
            old.group.release(old.row)
        stream = self._stream(pair, timeframe)
        stream.bars_seen = int(item["bars_seen"])
        stream.last_time = None if item["last_time"] is None else int(item["last_time"]) * NS_PER_MS
        kept = item.get("candles")
        if kept is not None:
            if list(kept["columns"]) != list(STRATEGY_INPUT_COLUMNS):
                raise ValueError(f"columns {kept['columns']} differ from {list(STRATEGY_INPUT_COLUMNS)}")
            times = _unb64(kept["times"], np.int64)
            rows = _unb64(kept["rows"], np.float64).reshape(len(times), _COLUMNS)
            stream.times = [int(t) for t in times]
            stream.rows = [tuple(r) for r in rows]
        g = stream.group
        if g is None:
            return
        if item.get("program") == g.program.fingerprint:
            g.state[stream.row] = _unb64(item["state"], np.float64)
            g.before[stream.row] = _unb64(item["before"], np.float64)
            g.start[stream.row] = np.array(item["start"], dtype=np.int64)
            g.complete[stream.row] = bool(item["complete"])
        else:
            log.info("%s|%s: state of another strategy set; replaying %d kept candles", pair, timeframe,
                     len(stream.times))
            g.complete[stream.row] = bool(item.get("complete", False))
            self._rebuild(stream, g.program.template.copy())
            if not stream.times:
                g.complete[stream.row] = False


def _position_dict(key: str, pair: str, timeframe: str, value: tuple[int, int | None, int, str | None]
                   ) -> dict[str, object]:
    position, bar_time, before, emitted = value
    return {"key": key, "pair": pair, "timeframe": timeframe, "position": position,
            "bar_time": None if bar_time is None else bar_time // NS_PER_MS, "position_before": before,
            "emitted": emitted}


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _unb64(text: object, dtype: type) -> np.ndarray:
    if not isinstance(text, str):
        raise TypeError(f"expected base64 text, got {type(text).__name__}")
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()


def _list(state: Mapping[str, object], name: str) -> Iterable[Mapping[str, object]]:
    value = state.get(name, [])
    if not isinstance(value, list):
        raise TypeError(f"incremental state '{name}' must be a list, got {type(value).__name__}")
    return value


def _brief(item: object) -> str:
    text = repr(item)
    return text if len(text) < 200 else text[:200] + "..."


