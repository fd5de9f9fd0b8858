"""Bar-by-bar evaluation for the streaming engine, identical to the vectorized evaluation.

``LiveEvaluator.on_candle`` appends the candle to a bounded window per (pair, timeframe),
runs every active strategy's vectorized rule over that window (one shared
``IndicatorCache`` per candle, so each indicator is computed once per candle and pair)
and reads the last bar. The position per (strategy, parameters, pair, timeframe) then
goes through ``positions.step``, the same transition ``trade_signals`` applies in a
backtest.

Why the last bar of the window equals the same bar of a full-history evaluation:

* while the window still holds the stream's whole history, the two computations see
  identical inputs, and every indicator is causal (no centered DPO, no chikou span);
* once the window is truncated it holds at least ``spec.window(params)`` candles: the
  look-back plus the bars recursive indicators need to forget their seed (until both
  runs compute bit-identical floats) and path-dependent ones (SAR, trailing stops) need
  to resynchronise. The custom indicators recompute from their trailing window by
  definition.

Each strategy runs on the last ``frame_bucket(window)`` candles (its window rounded up to
a power of two) rather than the whole stream window, so a 20-bar oscillator does not pay
for the thousands of candles KAMA needs. One indicator cache serves every strategy of the
candle: strategies run longest frame first and a shorter frame reads the last rows of a
result computed on a longer one, so each indicator is computed once per candle and pair.

The no-skew test (tests/strategies/test_no_skew.py) checks this for all 60 strategies.

A revised candle (same ``window_start``) replaces the last bar and is re-evaluated from
the position held *before* that bar; if a signal was already emitted for the bar, nothing
more is emitted for it (signals are keyed by strategy, parameters, pair, timeframe and
candle time downstream). Candles older than the last one are ignored and counted.

State (windows and positions) exports to plain dicts for a Beam stateful DoFn, and the
active set can be reloaded without losing positions.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd

from tradestream.candle_columns import OPTIONAL_STRATEGY_COLUMNS, STRATEGY_INPUT_COLUMNS
from tradestream.params import ParamValue, params_key, params_to_proto
from tradestream.strategies.cache import IndicatorCache
from tradestream.strategies.candles import check_candle_values, validate_candles
from tradestream.strategies.config import ActiveEntry, ActiveStrategySet
from tradestream.strategies.positions import BUY, FLAT, LONG, SELL, positions_after, step, trade_signals
from tradestream.timeframes import NS_PER_MS, TIMEFRAMES

log = logging.getLogger(__name__)

STATE_FORMAT = "tradestream.live/1"
SignalType = Literal["BUY", "SELL"]


@dataclass(frozen=True)
class LiveSignal:
    strategy: str
    params: dict[str, ParamValue]
    pair: str
    timeframe: str
    candle_time: pd.Timestamp
    price: float
    type: SignalType
    reason: str

    @property
    def params_key(self) -> str:
        return params_key(self.params)

    @property
    def signal_id(self) -> str:
        """Deterministic id: the same signal computed twice (replay, revision) has the same id."""
        text = "|".join([self.strategy, self.params_key, self.pair, self.timeframe,
                         str(self.candle_time.value // NS_PER_MS), self.type])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def as_dict(self) -> dict[str, object]:
        return {"strategy": self.strategy, "params": dict(self.params), "pair": self.pair,
                "timeframe": self.timeframe, "candle_time": self.candle_time.isoformat(),
                "price": self.price, "type": self.type, "reason": self.reason, "signal_id": self.signal_id}

    def to_proto(self, emitted_at: datetime | None = None):  # -> tradestream.v1.strategy_pb2.Signal
        """The Kafka ``signals`` value (tradestream.v1.Signal)."""
        from tradestream.v1 import strategy_pb2

        message = strategy_pb2.Signal(
            type=strategy_pb2.SIGNAL_TYPE_BUY if self.type == "BUY" else strategy_pb2.SIGNAL_TYPE_SELL,
            currency_pair=self.pair, timeframe=self.timeframe, price=self.price, reason=self.reason,
            signal_id=self.signal_id)
        message.candle_time.FromDatetime(self.candle_time.to_pydatetime())
        message.emitted_at.FromDatetime(emitted_at or datetime.now(UTC))
        message.strategy.CopyFrom(params_to_proto(self.strategy, self.params))
        return message



@dataclass(frozen=True)
class LiveCandle:
    """A validated candle: only ``to_live_candle`` (or a decoder that called it) should make one."""

    pair: str
    timeframe: str
    window_start: pd.Timestamp
    values: tuple[float, ...]  # in STRATEGY_INPUT_COLUMNS order; NaN for a missing optional column

    @property
    def close(self) -> float:
        return self.values[STRATEGY_INPUT_COLUMNS.index("close")]


def to_live_candle(candle: object) -> LiveCandle:
    """Normalise a tradestream.v1.Candle, a mapping or a pandas row; ValueError names the bad field.

    Mappings use ``pair`` (or ``currency_pair``), ``timeframe``, ``window_start`` (datetime,
    ISO text, or epoch milliseconds) and the candle columns. A pandas row may carry the
    window start as its name.
    """
    if hasattr(candle, "DESCRIPTOR") and hasattr(candle, "window_start"):
        fields = {"pair": candle.currency_pair, "timeframe": candle.timeframe,
                  "window_start": candle.window_start.ToDatetime(tzinfo=UTC),
                  "open": candle.open, "high": candle.high, "low": candle.low, "close": candle.close,
                  "volume": candle.volume, "trade_count": float(candle.trade_count)}
        if candle.vwap > 0:  # proto3 sends 0 for "no trades", which is no price
            fields["vwap"] = candle.vwap
    elif isinstance(candle, pd.Series):
        fields = candle.to_dict()
        if "window_start" not in fields and isinstance(candle.name, (pd.Timestamp, datetime)):
            fields["window_start"] = candle.name
    elif isinstance(candle, Mapping):
        fields = dict(candle)
    else:
        raise ValueError(f"a candle must be a tradestream.v1.Candle, a mapping or a pandas Series, "
                         f"got {type(candle).__name__}")
    pair = fields.get("pair", fields.get("currency_pair"))
    if not isinstance(pair, str) or not pair:
        raise ValueError(f"candle needs a currency pair ('pair' or 'currency_pair'), got {pair!r}")
    timeframe = fields.get("timeframe")
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"candle {pair} has timeframe {timeframe!r}; expected one of {list(TIMEFRAMES)}")
    start = _timestamp(fields.get("window_start"), pair)
    row: dict[str, np.ndarray] = {}
    for name in STRATEGY_INPUT_COLUMNS:
        value = fields.get(name)
        if value is None and name in OPTIONAL_STRATEGY_COLUMNS:
            continue
        if value is None:
            raise ValueError(f"candle {pair}|{timeframe} at {start.isoformat()} has no {name!r}")
        try:
            row[name] = np.array([float(value)])
        except (TypeError, ValueError):
            raise ValueError(f"candle {pair}|{timeframe} at {start.isoformat()}: {name}={value!r} "
                             "is not a number") from None
    check_candle_values(row, pd.DatetimeIndex([start]), owner=f"candle {pair}|{timeframe}")
    values = tuple(float(row[c][0]) if c in row else math.nan for c in STRATEGY_INPUT_COLUMNS)
    return LiveCandle(pair, timeframe, start, values)


def _timestamp(value: object, pair: str) -> pd.Timestamp:
    if value is None:
        raise ValueError(f"candle {pair} has no window_start")
    try:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            stamp = pd.Timestamp(int(value), unit="ms", tz="UTC")
        else:
            stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"candle {pair} window_start={value!r} is not a time") from None
    if stamp.tzinfo is None:
        raise ValueError(f"candle {pair} window_start={value!r} has no time zone; send UTC")
    return stamp.tz_convert("UTC")


MIN_BUCKET = 64


def frame_bucket(window: int) -> int:
    """Candles a strategy is evaluated on: its window rounded up to a power of two (at least 64).

    Evaluating every strategy on the stream's whole window would run a 20-bar Aroon over
    the thousands of candles KAMA needs. Rounding to a few sizes keeps the frames short
    and the number of distinct frames small.
    """
    return max(MIN_BUCKET, 1 << max(window - 1, 0).bit_length())


def live_signal(entry: ActiveEntry, candle: LiveCandle, action: int) -> LiveSignal:
    """The signal an entry's BUY (+1) or SELL (-1) at the close of ``candle`` publishes."""
    kind: SignalType = "BUY" if action == BUY else "SELL"
    rule = entry.spec.entry_rule if action == BUY else entry.spec.exit_rule
    return LiveSignal(strategy=entry.strategy, params=dict(entry.params), pair=candle.pair,
                      timeframe=candle.timeframe, candle_time=candle.window_start, price=candle.close,
                      type=kind, reason=f"{'entry' if action == BUY else 'exit'} rule held at close: {rule}")


def evaluate_last_bar(frame: pd.DataFrame, entries: Iterable[ActiveEntry], *, complete: bool,
                      share_cache: bool = True, sides: Mapping[str, str | None] | None = None,
                      ) -> tuple[dict[str, tuple[bool, bool]], dict[str, str]]:
    """(entry, exit) on the last bar of ``frame`` per ready entry key, and errors per failed key.

    ``frame`` is a stream's window (validated, newest candle last); ``complete`` says it
    still holds the stream's whole history. An entry is ready when the frame is longer than
    its look-back and, once truncated, at least as long as its window. Each runs on the
    last ``frame_bucket(window)`` candles. All entries share one ``IndicatorCache`` over
    ``frame``, and run longest frame first, so each indicator call is computed once per
    candle and shorter frames read the last rows of it (``IndicatorCache.tail``);
    ``share_cache=False`` gives each entry its own cache instead, for benchmarks.

    ``sides`` (entry key -> "entry", "exit" or None) evaluates only the condition that can
    decide the bar: the other one is reported False, and an entry mapped to None is not
    evaluated at all. Entries it does not name get both.
    """
    results: dict[str, tuple[bool, bool]] = {}
    failures: dict[str, str] = {}
    shared = IndicatorCache.for_validated(frame)
    ready = [e for e in entries if len(frame) > e.lookback and (len(frame) >= e.window or complete)
             and (sides is None or sides.get(e.key, "both") is not None)]
    sized = sorted(((min(frame_bucket(e.window), len(frame)), e) for e in ready), key=lambda pair: -pair[0])
    for size, entry in sized:
        if share_cache:
            cache = shared.tail(size)
        else:
            cache = IndicatorCache.for_validated(frame.iloc[-size:])
        side = "both" if sides is None else sides.get(entry.key, "both")
        try:
            if side == "both":
                entries_s, exits_s = entry.spec.evaluate_frame(cache.frame, entry.params, cache)
                results[entry.key] = (bool(entries_s.iat[-1]), bool(exits_s.iat[-1]))
            else:
                holds = entry.spec.holds_on_last_bar(cache.frame, entry.params, cache, side)
                results[entry.key] = (holds, False) if side == "entry" else (False, holds)
        except Exception as exc:  # noqa: BLE001 - one broken strategy must not stop the others
            failures[entry.key] = str(exc)
    return results, failures


class _Stream:
    """The bounded window of recent candles of one (pair, timeframe)."""

    def __init__(self, pair: str, timeframe: str, maxlen: int):
        self.pair = pair
        self.timeframe = timeframe
        self.times: deque[int] = deque(maxlen=maxlen)
        self.rows: deque[tuple[float, ...]] = deque(maxlen=maxlen)
        self.bars_seen = 0
        self.complete = True  # the window still holds every candle since the stream began

    @property
    def maxlen(self) -> int:
        return self.times.maxlen or 0

    def resize(self, maxlen: int) -> None:
        maxlen = max(maxlen, 1)
        if maxlen != self.maxlen:
            if maxlen < len(self.times):
                self.complete = False
            self.times = deque(self.times, maxlen=maxlen)
            self.rows = deque(self.rows, maxlen=maxlen)

    def push(self, candle: LiveCandle) -> Literal["new", "revision", "late"]:
        t = candle.window_start.value
        if self.times and t < self.times[-1]:
            return "late"
        if self.times and t == self.times[-1]:
            self.rows[-1] = candle.values
            return "revision"
        if len(self.times) == self.maxlen:
            self.complete = False
        self.times.append(t)
        self.rows.append(candle.values)
        self.bars_seen += 1
        return "new"

    def frame(self) -> pd.DataFrame:
        data = np.array(self.rows, dtype="float64").reshape(len(self.rows), len(STRATEGY_INPUT_COLUMNS))
        frame = pd.DataFrame(data, columns=list(STRATEGY_INPUT_COLUMNS),
                             index=pd.DatetimeIndex(np.array(self.times, dtype="datetime64[ns]"), tz="UTC"))
        gaps = [c for c in OPTIONAL_STRATEGY_COLUMNS if frame[c].isna().any()]
        return frame.drop(columns=gaps) if gaps else frame


@dataclass
class _Position:
    position: int = FLAT
    bar_time: int | None = None  # window_start (ns) of the last bar decided
    position_before: int = FLAT  # position before that bar's decision
    emitted: SignalType | None = None  # signal emitted for that bar, if any


@dataclass
class ReloadReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    long_but_inactive: list[str] = field(default_factory=list)  # positions nobody will close now


class LiveEvaluator:
    """Evaluates the active strategy set candle by candle. Not thread-safe: one per worker/key."""

    def __init__(self, active_set: ActiveStrategySet | None = None):
        self._active = active_set if active_set is not None else ActiveStrategySet.default()
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._positions: dict[tuple[str, str, str], _Position] = {}  # (entry key, pair, timeframe)
        self.late_candles = 0
        self.errors: dict[tuple[str, str, str], str] = {}  # last evaluation error per entry and stream

    @property
    def active_set(self) -> ActiveStrategySet:
        return self._active

    # ------------------------------------------------------------------ evaluation
    def on_candle(self, candle: LiveCandle | object) -> list[LiveSignal]:
        """Signals for the newest candle of its (pair, timeframe); [] while warming up.

        A ``LiveCandle`` is taken as it is: ``to_live_candle`` validated it when it was made
        (the signal job decodes each record once). Anything else (a Candle protobuf, a
        mapping, a pandas row) goes through ``to_live_candle`` first.
        """
        live = candle if isinstance(candle, LiveCandle) else to_live_candle(candle)
        stream = self._stream(live.pair, live.timeframe)
        status = stream.push(live)
        if status == "late":
            self.late_candles += 1
            log.debug("ignoring late candle %s|%s at %s", live.pair, live.timeframe, live.window_start)
            return []
        entries = self._active.for_stream(live.pair, live.timeframe)
        if not entries:
            return []
        results, failures = evaluate_last_bar(stream.frame(), entries, complete=stream.complete,
                                              sides=self._deciding_sides(entries, live))
        signals: list[LiveSignal] = []
        for entry in entries:
            error_key = (entry.key, live.pair, live.timeframe)
            if entry.key in failures:
                if self.errors.get(error_key) != failures[entry.key]:
                    log.warning("%s on %s|%s failed: %s", entry.key, live.pair, live.timeframe, failures[entry.key])
                self.errors[error_key] = failures[entry.key]
                continue
            self.errors.pop(error_key, None)
            if entry.key in results:
                signal = self._decide(entry, live, *results[entry.key])
                if signal is not None:
                    signals.append(signal)
        return signals

    def _deciding_sides(self, entries: Iterable[ActiveEntry], candle: LiveCandle) -> dict[str, str | None]:
        """Per entry, the one condition that can decide this bar (``positions.step``): the entry
        rule when the position before the bar is flat, the exit rule when long; None for a
        revision of a bar that already emitted its signal (nothing more is emitted for it)."""
        t = candle.window_start.value
        sides: dict[str, str | None] = {}
        for entry in entries:
            state = self._positions.get((entry.key, candle.pair, candle.timeframe))
            if state is None:
                before = FLAT
            elif state.bar_time == t:
                if state.emitted is not None:
                    sides[entry.key] = None
                    continue
                before = state.position_before
            else:
                before = state.position
            sides[entry.key] = "entry" if before == FLAT else "exit"
        return sides

    def _decide(self, entry: ActiveEntry, candle: LiveCandle, entry_holds: bool,
                exit_holds: bool) -> LiveSignal | None:
        state = self._positions.setdefault((entry.key, candle.pair, candle.timeframe), _Position())
        t = candle.window_start.value
        if state.bar_time == t:  # a revision of the bar already decided
            if state.emitted is not None:
                return None
        else:
            state.bar_time, state.position_before, state.emitted = t, state.position, None
        state.position, action = step(state.position_before, entry_holds, exit_holds)
        if action == 0:
            return None
        signal = live_signal(entry, candle, action)
        state.emitted = signal.type
        return signal

    def _stream(self, pair: str, timeframe: str) -> _Stream:
        stream = self._streams.get((pair, timeframe))
        if stream is None:
            stream = self._streams[(pair, timeframe)] = _Stream(pair, timeframe,
                                                                self._active.window_for(pair, timeframe))
        return stream

    # ------------------------------------------------------------------ positions
    def position(self, strategy: str, params: Mapping[str, ParamValue], pair: str, timeframe: str) -> int:
        """1 when long, 0 when flat (also for combinations never seen)."""
        key = f"{strategy}{params_key(params)}"
        state = self._positions.get((key, pair, timeframe))
        return state.position if state else FLAT

    def seed(self, pair: str, timeframe: str, history: pd.DataFrame,
             positions: Literal["flat", "replay"] | Mapping[str, int] = "replay",
             complete: bool = False) -> None:
        """Start a stream from stored candles instead of waiting for a full window.

        ``history`` is validated; its last ``window`` candles become the stream's window.
        ``positions="replay"`` sets each active strategy's position to the one a backtest
        over ``history`` ends with (``trade_signals`` of its vectorized signals); a mapping
        gives positions per entry key (``ActiveEntry.key``). ``complete=True`` declares
        that ``history`` starts where the stream starts, so the evaluator may signal
        before it holds a full window.
        """
        frame = validate_candles(history, owner=f"seed {pair}|{timeframe}")
        stream = _Stream(pair, timeframe, self._active.window_for(pair, timeframe))
        kept = frame.iloc[-stream.maxlen:] if stream.maxlen else frame.iloc[:0]
        for t, row in zip(kept.index.asi8, kept.reindex(columns=list(STRATEGY_INPUT_COLUMNS)).itertuples(index=False),
                          strict=True):
            stream.times.append(int(t))
            stream.rows.append(tuple(float(v) for v in row))
        stream.bars_seen = len(frame)
        stream.complete = complete and len(kept) == len(frame)
        self._streams[(pair, timeframe)] = stream
        if positions == "flat":
            return
        last = int(frame.index.asi8[-1])
        cache = IndicatorCache.for_validated(frame)
        for entry in self._active.for_stream(pair, timeframe):
            state = self._positions[(entry.key, pair, timeframe)] = _Position()
            if positions == "replay":
                if len(frame) <= entry.lookback:
                    continue
                entries_s, exits_s = entry.spec.evaluate_frame(frame, entry.params, cache)
                held = positions_after(entries_s, exits_s)
                action = int(trade_signals(entries_s, exits_s).iat[-1])
                state.position = int(held.iat[-1])
                state.position_before = int(held.iat[-2]) if len(held) > 1 else FLAT
                state.bar_time = last
                state.emitted = "BUY" if action == BUY else "SELL" if action == SELL else None
            elif entry.key in positions:
                value = positions[entry.key]
                if value not in (FLAT, LONG):
                    raise ValueError(f"seed position for {entry.key} must be 0 (flat) or 1 (long), got {value!r}")
                state.position = state.position_before = int(value)
                state.bar_time = last

    def history_of(self, pair: str, timeframe: str) -> tuple[int, bool, pd.DataFrame | None]:
        """(candles held, whether they are the stream's whole history, those candles as a frame)."""
        stream = self._streams.get((pair, timeframe))
        if stream is None or not stream.times:
            return 0, True if stream is None else stream.complete, None
        return len(stream.times), stream.complete, stream.frame()

    def positions_of(self, pair: str, timeframe: str) -> list[dict[str, object]]:
        """The stream's decided positions, as ``export_state`` lists them."""
        return [_position_item(key, p, tf, state) for (key, p, tf), state in self._positions.items()
                if p == pair and tf == timeframe]

    def restore_positions(self, positions: Iterable[Mapping[str, object]]) -> None:
        """Puts positions (``export_state``'s list) back, e.g. after a seed replayed others."""
        self.import_state({"format": STATE_FORMAT, "streams": [], "positions": list(positions)})

    # ------------------------------------------------------------------ config reload
    def reload(self, active_set: ActiveStrategySet) -> ReloadReport:
        """Switch to a new active set. Positions survive, including those of removed entries,
        so an entry that comes back resumes where it was; windows grow or shrink to fit."""
        old = {e.key for e in self._active}
        new = {e.key for e in active_set}
        self._active = active_set
        for (pair, timeframe), stream in self._streams.items():
            stream.resize(active_set.window_for(pair, timeframe))
        report = ReloadReport(added=sorted(new - old), removed=sorted(old - new), kept=sorted(old & new))
        for (key, pair, timeframe), state in self._positions.items():
            running = any(e.key == key for e in active_set.for_stream(pair, timeframe))
            if state.position == LONG and not running:
                report.long_but_inactive.append(f"{key} {pair}|{timeframe}")
        return report

    # ------------------------------------------------------------------ state
    def export_state(self, pair: str | None = None, timeframe: str | None = None) -> dict[str, object]:
        """Windows and positions as JSON-friendly dicts (optionally of one pair and/or timeframe)."""
        def wanted(p: str, tf: str) -> bool:
            return (pair is None or p == pair) and (timeframe is None or tf == timeframe)

        streams = []
        for (p, tf), stream in self._streams.items():
            if wanted(p, tf):
                streams.append({
                    "pair": p, "timeframe": tf, "bars_seen": stream.bars_seen, "complete": stream.complete,
                    "columns": list(STRATEGY_INPUT_COLUMNS),
                    "times": [t // NS_PER_MS for t in stream.times],
                    "rows": [[None if math.isnan(v) else v for v in row] for row in stream.rows]})
        positions = [_position_item(key, p, tf, state) for (key, p, tf), state in self._positions.items()
                     if wanted(p, tf)]
        return {"format": STATE_FORMAT, "streams": streams, "positions": positions}

    def import_state(self, state: Mapping[str, object]) -> None:
        """Restore what ``export_state`` produced (merging: other streams stay as they are)."""
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise ValueError(f"live state must be a mapping with format={STATE_FORMAT!r}, "
                             f"got {state.get('format') if isinstance(state, Mapping) else type(state).__name__!r}")
        for item in _list(state, "streams"):
            try:
                pair, tf = item["pair"], item["timeframe"]
                if list(item["columns"]) != list(STRATEGY_INPUT_COLUMNS):
                    raise ValueError(f"columns {item['columns']} differ from {list(STRATEGY_INPUT_COLUMNS)}")
                maxlen = max(self._active.window_for(pair, tf), len(item["times"]))
                stream = _Stream(pair, tf, maxlen)
                for t, row in zip(item["times"], item["rows"], strict=True):
                    stream.times.append(int(t) * NS_PER_MS)
                    stream.rows.append(tuple(math.nan if v is None else float(v) for v in row))
                stream.bars_seen = int(item["bars_seen"])
                stream.complete = bool(item["complete"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"live state stream entry is malformed ({exc!r}): {_brief(item)}") from None
            stream.resize(self._active.window_for(pair, tf))
            self._streams[(pair, tf)] = stream
        for item in _list(state, "positions"):
            try:
                position = _Position(position=int(item["position"]),
                                     bar_time=None if item["bar_time"] is None else int(item["bar_time"]) * NS_PER_MS,
                                     position_before=int(item["position_before"]), emitted=item["emitted"])
                if position.position not in (FLAT, LONG) or position.emitted not in (None, "BUY", "SELL"):
                    raise ValueError("position must be 0/1 and emitted BUY/SELL/None")
                self._positions[(item["key"], item["pair"], item["timeframe"])] = position
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"live state position entry is malformed ({exc!r}): {_brief(item)}") from None


def _position_item(key: str, pair: str, timeframe: str, state: _Position) -> dict[str, object]:
    return {"key": key, "pair": pair, "timeframe": timeframe, "position": state.position,
            "bar_time": None if state.bar_time is None else state.bar_time // NS_PER_MS,
            "position_before": state.position_before, "emitted": state.emitted}


def _list(state: Mapping[str, object], name: str) -> Iterable[Mapping[str, object]]:
    value = state.get(name, [])
    if not isinstance(value, list):
        raise TypeError(f"live state '{name}' must be a list, got {type(value).__name__}")
    return value


def _brief(item: object) -> str:
    text = repr(item)
    return text if len(text) < 200 else text[:200] + "..."
