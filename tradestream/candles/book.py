"""Per-pair candle state machines: what the streaming transforms keep between events.

``MinuteBook`` turns trades into 1-minute candles: it closes minutes as event time (the
watermark) passes them, fills empty minutes forward, re-emits a closed minute with
``revision + 1`` when a late trade changes it, and forgets a minute once the allowed
lateness has passed. ``RollupBook`` does the same for higher timeframes, fed by the
1-minute candles (including their revisions).

Both are plain objects driven by three calls, so tests exercise them directly and the
Beam DoFns stay thin:
- ``classify`` / ``add_*``: an element arrived;
- ``on_tick(t)``: the watermark has reached ``t`` (an event-time timer fired);
- ``next_tick()``: when the next ``on_tick`` is needed (the DoFn sets its timer there).

Raw trades are not kept here: the DoFn keeps them in append-only Beam bag state (cheap to
add to) and passes a ``trades_of(window_start)`` lookup in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from tradestream.candles.fold import combine_candles, dedupe_trades, fill_allowed, filled_candle, fold_trades
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.timeframes import BASE_TIMEFRAME, MINUTE_NS, timeframe_ns, window_start

TradesOf = Callable[[int], Sequence[TradeTick]]


class Disposition(Enum):
    OPEN = "open"        # the minute is not closed yet: the trade joins its first emission
    REVISE = "revise"    # the minute was closed but is within the allowed lateness: re-emit it
    LATE = "late"        # the minute is final: the trade goes to the dead-letter topic


@dataclass
class TickResult:
    candles: list[CandleRecord]
    expired_through_ns: int | None  # trades of minutes ending at or before this may be dropped


@dataclass
class MinuteBook:
    currency_pair: str
    allowed_lateness_ns: int
    fill_cap_ns: int
    fill_until_ns: int | None = None          # batch mode: no minute ending after this is emitted
    closed_through_ns: int | None = None      # every minute ending at or before this has been closed
    expired_through_ns: int | None = None     # every minute ending at or before this is final
    open_windows: set[int] = field(default_factory=set)           # minutes with trades, not closed yet
    emitted: dict[int, CandleRecord] = field(default_factory=dict)  # closed, not yet final, with a candle
    base_close: float | None = None           # close of the newest final candle
    base_traded_end_ns: int | None = None     # end of the newest final minute that had trades

    # ------------------------------------------------------------ arrivals

    def classify(self, window_start_ns: int) -> Disposition:
        end = window_start_ns + MINUTE_NS
        if self.expired_through_ns is not None and end <= self.expired_through_ns:
            return Disposition.LATE
        if self.closed_through_ns is not None and end <= self.closed_through_ns:
            return Disposition.REVISE
        return Disposition.OPEN

    def add_open(self, window_start_ns: int) -> None:
        self.open_windows.add(window_start_ns)

    def revise(self, window_starts: Iterable[int], trades_of: TradesOf) -> list[CandleRecord]:
        """Recompute closed minutes from the earliest revised one on; return those that changed.

        A later minute can change too: a filled minute repeats the previous close, and a late
        trade can change that close (or end a gap longer than the fill-forward cap)."""
        first = min(window_starts)
        close, traded_end = self._prior(first)
        out = []
        ws = first
        while self.closed_through_ns is not None and ws + MINUTE_NS <= self.closed_through_ns:
            candle = self._candle(ws, trades_of(ws), close, traded_end)
            old = self.emitted.get(ws)
            if candle is None:
                if old is not None:  # adding trades can only turn gaps into candles, never back
                    raise AssertionError(f"minute {ws} of {self.currency_pair} lost its candle on revision")
            else:
                if old is None or not candle.same_values(old):
                    candle = candle.with_revision(old.revision + 1 if old else 0)
                    self.emitted[ws] = candle
                    out.append(candle)
                else:
                    candle = old
                close = candle.close
                if not candle.filled:
                    traded_end = ws + MINUTE_NS
            ws += MINUTE_NS
        return out

    # ------------------------------------------------------------ event time

    def on_tick(self, tick_ns: int, trades_of: TradesOf) -> TickResult:
        candles = self._close(tick_ns, trades_of)
        expired = self._expire(tick_ns)
        return TickResult(candles, expired)

    def next_tick(self) -> int | None:
        candidates = []
        if self.closed_through_ns is None:
            if self.open_windows:
                candidates.append(min(self.open_windows) + MINUTE_NS)
        else:
            ws = self.closed_through_ns
            close, traded_end = self._prior(ws)
            fills = close is not None and fill_allowed(ws, traded_end, self.fill_cap_ns)
            if (fills or ws in self.open_windows) and self._within_until(ws):
                candidates.append(ws + MINUTE_NS)
            elif self.open_windows:
                candidates.append(min(self.open_windows) + MINUTE_NS)
        if self.emitted:
            candidates.append(min(self.emitted) + MINUTE_NS + self.allowed_lateness_ns)
        return min(candidates) if candidates else None

    @property
    def idle(self) -> bool:
        """Nothing open, nothing revisable and no minute left to fill: the state can be dropped
        (a later trade starts a new book with the same result, as filling has stopped)."""
        return not self.open_windows and not self.emitted and self.next_tick() is None

    # ------------------------------------------------------------ internals

    def _within_until(self, ws: int) -> bool:
        return self.fill_until_ns is None or ws + MINUTE_NS <= self.fill_until_ns

    def _prior(self, window_start_ns: int) -> tuple[float | None, int | None]:
        """Close of the last candle before the minute, and the end of the last traded minute before it."""
        close, traded_end = self.base_close, self.base_traded_end_ns
        for ws in sorted(self.emitted):
            if ws >= window_start_ns:
                break
            candle = self.emitted[ws]
            close = candle.close
            if not candle.filled:
                traded_end = ws + MINUTE_NS
        return close, traded_end

    def _candle(self, ws: int, trades: Sequence[TradeTick], close: float | None,
                traded_end: int | None) -> CandleRecord | None:
        unique = dedupe_trades(trades)
        if unique:
            return fold_trades(self.currency_pair, BASE_TIMEFRAME, ws, ws + MINUTE_NS, unique)
        if close is not None and fill_allowed(ws, traded_end, self.fill_cap_ns):
            return filled_candle(self.currency_pair, BASE_TIMEFRAME, ws, ws + MINUTE_NS, close)
        return None

    def _close(self, tick_ns: int, trades_of: TradesOf) -> list[CandleRecord]:
        horizon = window_start(tick_ns, MINUTE_NS)
        if self.fill_until_ns is not None:
            horizon = min(horizon, self.fill_until_ns)
        if self.closed_through_ns is not None and horizon <= self.closed_through_ns:
            return []
        if self.closed_through_ns is None:
            if not self.open_windows:
                return []
            ws = min(self.open_windows)
        else:
            ws = self.closed_through_ns
        close, traded_end = self._prior(ws)
        out = []
        while ws + MINUTE_NS <= horizon:
            if ws in self.open_windows:
                self.open_windows.discard(ws)
                candle = self._candle(ws, trades_of(ws), close, traded_end)
            elif close is not None and fill_allowed(ws, traded_end, self.fill_cap_ns):
                candle = filled_candle(self.currency_pair, BASE_TIMEFRAME, ws, ws + MINUTE_NS, close)
            else:
                candle = None
                later = [w for w in self.open_windows if w > ws]
                if later:  # skip the unfilled gap in one step
                    ws = min(later)
                    continue
                break
            if candle is not None:
                self.emitted[ws] = candle
                out.append(candle)
                close = candle.close
                if not candle.filled:
                    traded_end = ws + MINUTE_NS
            ws += MINUTE_NS
        self.closed_through_ns = horizon if self.closed_through_ns is None else max(self.closed_through_ns, horizon)
        return out

    def _expire(self, tick_ns: int) -> int | None:
        if self.closed_through_ns is None:
            return None
        cutoff = min(window_start(tick_ns - self.allowed_lateness_ns, MINUTE_NS), self.closed_through_ns)
        if self.expired_through_ns is not None and cutoff <= self.expired_through_ns:
            return None
        for ws in sorted(self.emitted):
            if ws + MINUTE_NS > cutoff:
                break
            candle = self.emitted.pop(ws)
            self.base_close = candle.close
            if not candle.filled:
                self.base_traded_end_ns = ws + MINUTE_NS
        self.expired_through_ns = cutoff
        return cutoff


@dataclass
class RollupResult:
    candles: list[CandleRecord]
    dropped: list[CandleRecord]  # 1-minute candles that arrived after their higher windows were final


@dataclass
class RollupBook:
    """Higher-timeframe candles of one pair, built from its 1-minute candles."""

    currency_pair: str
    timeframes: tuple[str, ...]
    allowed_lateness_ns: int
    fill_until_ns: int | None = None          # batch mode: no window ending after this is emitted
    emit_from_ns: int | None = None           # batch mode: no window starting before this is emitted
    minutes: dict[int, CandleRecord] = field(default_factory=dict)   # newest revision per minute
    closed_through_ns: dict[str, int] = field(default_factory=dict)
    expired_through_ns: dict[str, int] = field(default_factory=dict)
    emitted: dict[tuple[str, int], CandleRecord] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.timeframes or BASE_TIMEFRAME in self.timeframes:
            raise ValueError(f"roll-up timeframes must be higher than {BASE_TIMEFRAME}, got {self.timeframes}")
        self._durations = {tf: timeframe_ns(tf) for tf in self.timeframes}

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k != "_durations"}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._durations = {tf: timeframe_ns(tf) for tf in self.timeframes}

    def add_minute(self, candle: CandleRecord) -> RollupResult:
        if candle.timeframe != BASE_TIMEFRAME:
            raise ValueError(f"roll-ups are built from {BASE_TIMEFRAME} candles, got {candle.timeframe}: {candle}")
        ws = candle.window_start_ns
        if all(self._final(tf, window_start(ws, d) + d) for tf, d in self._durations.items()):
            return RollupResult([], [candle])
        self.minutes[ws] = candle
        out = []
        for tf, duration in self._durations.items():
            tws = window_start(ws, duration)
            closed = self.closed_through_ns.get(tf)
            if closed is None or tws + duration > closed or self._final(tf, tws + duration) \
                    or not self._within_from(tws):
                continue
            rebuilt = self._build(tf, tws, duration)
            old = self.emitted.get((tf, tws))
            if old is None or not rebuilt.same_values(old):
                rebuilt = rebuilt.with_revision(old.revision + 1 if old else 0)
                self.emitted[(tf, tws)] = rebuilt
                out.append(rebuilt)
        return RollupResult(out, [])

    def on_tick(self, tick_ns: int) -> RollupResult:
        out = []
        for tf, duration in self._durations.items():
            horizon = window_start(tick_ns, duration)
            if self.fill_until_ns is not None:
                horizon = min(horizon, window_start(self.fill_until_ns, duration))
            closed = self.closed_through_ns.get(tf)
            if closed is not None and horizon <= closed:
                continue
            starts = sorted({window_start(ws, duration) for ws in self.minutes})
            for tws in starts:
                if (closed is None or tws + duration > closed) and tws + duration <= horizon \
                        and self._within_from(tws):
                    candle = self._build(tf, tws, duration)
                    self.emitted[(tf, tws)] = candle
                    out.append(candle)
            self.closed_through_ns[tf] = horizon if closed is None else max(closed, horizon)
        self._expire(tick_ns)
        return RollupResult(out, [])

    def next_tick(self) -> int | None:
        candidates = []
        for tf, duration in self._durations.items():
            closed = self.closed_through_ns.get(tf)
            pending = [window_start(ws, duration) + duration for ws in self.minutes]
            pending = [end for end in pending if closed is None or end > closed]
            if self.fill_until_ns is not None:
                pending = [end for end in pending if end <= self.fill_until_ns]
            if pending:
                candidates.append(min(pending))
        for (tf, tws) in self.emitted:
            candidates.append(tws + self._durations[tf] + self.allowed_lateness_ns)
        return min(candidates) if candidates else None

    @property
    def idle(self) -> bool:
        return not self.minutes and not self.emitted

    # ------------------------------------------------------------ internals

    def _within_from(self, tws: int) -> bool:
        return self.emit_from_ns is None or tws >= self.emit_from_ns

    def _final(self, tf: str, window_end_ns: int) -> bool:
        expired = self.expired_through_ns.get(tf)
        return expired is not None and window_end_ns <= expired

    def _build(self, tf: str, tws: int, duration: int) -> CandleRecord:
        minutes = [self.minutes[ws] for ws in sorted(self.minutes) if tws <= ws < tws + duration]
        return combine_candles(self.currency_pair, tf, tws, tws + duration, minutes)

    def _expire(self, tick_ns: int) -> None:
        for tf, duration in self._durations.items():
            closed = self.closed_through_ns.get(tf)
            if closed is None:
                continue
            cutoff = min(window_start(tick_ns - self.allowed_lateness_ns, duration), closed)
            if cutoff > self.expired_through_ns.get(tf, cutoff - 1):
                self.expired_through_ns[tf] = cutoff
        for key in [k for k in self.emitted if self._final(k[0], k[1] + self._durations[k[0]])]:
            del self.emitted[key]
        for ws in [ws for ws in self.minutes
                   if all(self._final(tf, window_start(ws, d) + d) for tf, d in self._durations.items())]:
            del self.minutes[ws]
