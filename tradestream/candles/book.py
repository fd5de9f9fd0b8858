"""Candle state machines: what the streaming transforms keep between events.

The job folds trades per (pair, minute) first (``fold_minute``: a small state per minute,
so closing a minute touches only its own trades however far the watermark jumps), then
``MinuteBook`` (per pair) turns those folds into the published 1-minute candles: it closes
minutes as event time (the watermark) passes them, fills empty minutes forward, re-emits
a closed minute with ``revision + 1`` when a late fold changes it (and the filled minutes
after it that repeat its close), and forgets a minute once the allowed lateness has
passed. ``RollupBook`` does the same for higher timeframes, fed by the 1-minute candles.

Both books are plain objects driven by three calls, so tests exercise them directly and
the Beam DoFns stay thin:
- ``add_*``: a fold / a 1-minute candle arrived;
- ``on_tick(t)``: the watermark has reached ``t`` (an event-time timer fired);
- ``next_tick()``: when the next ``on_tick`` is needed (the DoFn sets its timer there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tradestream.candles.fold import combine_candles, dedupe_trades, fill_allowed, filled_candle, fold_trades
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.windows import window_start
from tradestream.timeframes import BASE_TIMEFRAME, MINUTE_NS, parse_timeframe


def fold_minute(currency_pair: str, window_start_ns: int, trades: Sequence[TradeTick]) -> CandleRecord:
    """The 1-minute candle of a minute's trades, duplicates removed."""
    return fold_trades(currency_pair, BASE_TIMEFRAME, window_start_ns, window_start_ns + MINUTE_NS,
                       dedupe_trades(trades))


@dataclass
class MinuteUpdate:
    candles: list[CandleRecord]      # published 1-minute candles (new or revised)
    dropped: list[CandleRecord]      # folds of minutes that were already final


@dataclass
class MinuteBook:
    currency_pair: str
    allowed_lateness_ns: int
    fill_cap_ns: int
    fill_until_ns: int | None = None          # batch mode: no minute ending after this is emitted
    closed_through_ns: int | None = None      # every minute ending at or before this has been closed
    expired_through_ns: int | None = None     # every minute ending at or before this is final
    traded: dict[int, CandleRecord] = field(default_factory=dict)   # newest fold per unexpired minute
    emitted: dict[int, CandleRecord] = field(default_factory=dict)  # published, closed, not yet final
    base_close: float | None = None           # close of the newest final candle
    base_traded_end_ns: int | None = None     # end of the newest final minute that had trades

    # ------------------------------------------------------------ arrivals

    def is_final(self, window_start_ns: int) -> bool:
        return self.expired_through_ns is not None and window_start_ns + MINUTE_NS <= self.expired_through_ns

    def is_closed(self, window_start_ns: int) -> bool:
        return self.closed_through_ns is not None and window_start_ns + MINUTE_NS <= self.closed_through_ns

    def add_fold(self, fold: CandleRecord) -> MinuteUpdate:
        """A minute's trades, folded. Returns the published candles this changes, if the
        minute is closed already (a late trade), or the fold itself as dropped if the minute
        is final."""
        ws = fold.window_start_ns
        if fold.currency_pair != self.currency_pair or fold.timeframe != BASE_TIMEFRAME:
            raise ValueError(f"book of {self.currency_pair} {BASE_TIMEFRAME} got {fold}")
        if self.is_final(ws):
            return MinuteUpdate([], [fold])
        self.traded[ws] = fold
        if self.is_closed(ws):
            return MinuteUpdate(self._revise(ws), [])
        return MinuteUpdate([], [])

    # ------------------------------------------------------------ event time

    def on_tick(self, tick_ns: int) -> list[CandleRecord]:
        candles = self._close(tick_ns)
        self._expire(tick_ns)
        return candles

    def next_tick(self) -> int | None:
        candidates = []
        pending = [ws for ws in self.traded if not self.is_closed(ws)]
        if self.closed_through_ns is None:
            if pending:
                candidates.append(min(pending) + MINUTE_NS)
        else:
            ws = self.closed_through_ns
            close, traded_end = self._prior(ws)
            fills = close is not None and fill_allowed(ws, traded_end, self.fill_cap_ns)
            if (fills or ws in self.traded) and self._within_until(ws):
                candidates.append(ws + MINUTE_NS)
            elif pending:
                candidates.append(min(pending) + MINUTE_NS)
        if self.emitted:
            candidates.append(min(self.emitted) + MINUTE_NS + self.allowed_lateness_ns)
        return min(candidates) if candidates else None

    @property
    def idle(self) -> bool:
        """Nothing pending, nothing revisable and no minute left to fill: the state can be
        dropped (a later fold starts a new book with the same result, as filling has stopped)."""
        return not self.traded and not self.emitted and self.next_tick() is None

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

    def _candle(self, ws: int, close: float | None, traded_end: int | None) -> CandleRecord | None:
        fold = self.traded.get(ws)
        if fold is not None:
            return fold
        if close is not None and fill_allowed(ws, traded_end, self.fill_cap_ns):
            return filled_candle(self.currency_pair, BASE_TIMEFRAME, ws, ws + MINUTE_NS, close)
        return None

    def _revise(self, first: int) -> list[CandleRecord]:
        """Recompute closed minutes from ``first`` on; return those that changed."""
        close, traded_end = self._prior(first)
        out = []
        ws = first
        while self.is_closed(ws):
            candle = self._candle(ws, close, traded_end)
            old = self.emitted.get(ws)
            if candle is None:
                if old is not None:  # more trades only turn gaps into candles, never back
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

    def _close(self, tick_ns: int) -> list[CandleRecord]:
        horizon = window_start(tick_ns, MINUTE_NS)
        if self.fill_until_ns is not None:
            horizon = min(horizon, self.fill_until_ns)
        if self.closed_through_ns is not None and horizon <= self.closed_through_ns:
            return []
        if self.closed_through_ns is None:
            if not self.traded:
                return []
            ws = min(self.traded)
        else:
            ws = self.closed_through_ns
        close, traded_end = self._prior(ws)
        out = []
        while ws + MINUTE_NS <= horizon:
            candle = self._candle(ws, close, traded_end)
            if candle is None:
                later = [w for w in self.traded if w > ws]
                if later:  # skip the unfilled gap in one step
                    ws = min(later)
                    continue
                break
            candle = candle.with_revision(0)
            self.emitted[ws] = candle
            out.append(candle)
            close = candle.close
            if not candle.filled:
                traded_end = ws + MINUTE_NS
            ws += MINUTE_NS
        self.closed_through_ns = horizon if self.closed_through_ns is None else max(self.closed_through_ns, horizon)
        return out

    def _expire(self, tick_ns: int) -> None:
        if self.closed_through_ns is None:
            return
        cutoff = min(window_start(tick_ns - self.allowed_lateness_ns, MINUTE_NS), self.closed_through_ns)
        if self.expired_through_ns is not None and cutoff <= self.expired_through_ns:
            return
        for ws in sorted(self.emitted):
            if ws + MINUTE_NS > cutoff:
                break
            candle = self.emitted.pop(ws)
            self.base_close = candle.close
            if not candle.filled:
                self.base_traded_end_ns = ws + MINUTE_NS
        for ws in [w for w in self.traded if w + MINUTE_NS <= cutoff]:
            del self.traded[ws]
        self.expired_through_ns = cutoff


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
        self._durations = {tf: parse_timeframe(tf).ns for tf in self.timeframes}

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k != "_durations"}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._durations = {tf: parse_timeframe(tf).ns for tf in self.timeframes}

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
