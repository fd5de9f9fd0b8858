"""The candle transforms: trades -> 1-minute candles -> higher timeframes.

    batches | DecodeTrades() | BuildCandles() | EncodeCandles()

``BuildCandles`` is two keyed stages: ``FoldMinutes`` keyed by (pair, minute) folds each
minute's trades when the watermark passes it (and again on late changes); the per-pair
stage publishes 1-minute candles (fill-forward, revisions) and rolls them up. The DoFns are
thin: arithmetic and state transitions live in ``tradestream.candles`` (``fold_minute``,
``MinuteBook``, ``RollupBook``); here they are wired to Beam state and event-time timers.

Elements between stages are plain tuples (cheap for Beam's fast coders):
- trade: ``(exchange, trade_id, event_ns, price, size, partition, offset)``
- ``DecodeTrades`` output: ``((pair, minute start), (watermark_us | None, (trade, ...)))``
- folds and candles: ``(pair, CandleRecord)`` / ``CandleRecord``; dead letters:
  ``(key bytes, DeadLetter bytes)``
"""

from __future__ import annotations

import logging
import time
import typing
from collections import defaultdict
from collections.abc import Iterable, Iterator

import apache_beam as beam
from apache_beam import coders
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate
from apache_beam.utils.timestamp import Timestamp

from streaming.kafka.beam import KafkaBatch
from tradestream.candles.book import MinuteBook, RollupBook, fold_minute
from tradestream.candles.codec import RejectedTrade, candle_key, candle_to_proto, dead_letter, decode_trade
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.windows import higher_timeframes
from tradestream.timeframes import MINUTE_NS, NS_PER_SECOND

log = logging.getLogger(__name__)

SOURCE = "pipeline:candles"
DLQ_TAG = "dead_letters"
HOUR_NS = 3600 * NS_PER_SECOND
DAY_NS = 24 * HOUR_NS

TradeTuple = tuple[str, str, int, float, float]  # exchange, trade_id, event_ns, price, size


def parse_trade(key: bytes | None, value: bytes | None, timestamp_ms: int) -> tuple[TradeTick | RejectedTrade,
                                                                                    int | None]:
    """The reader's parse function for ``trades``: the trade (or why it was rejected) and its
    event time in µs for the watermark."""
    try:
        trade = decode_trade(value, key)
    except RejectedTrade as rejected:
        return rejected, None
    return trade, trade.event_ns // 1000


def _dead_letter(reason: str, detail: str, *, key: bytes, payload: bytes | None, topic: str, partition: int,
                 offset: int) -> tuple[bytes, bytes]:
    message = dead_letter(source=SOURCE, reason=reason, detail=detail, payload=payload, original_topic=topic,
                          original_partition=partition, original_offset=offset, rejected_at_ns=time.time_ns())
    return key, message.SerializeToString()


class DecodeTradesFn(beam.DoFn):
    """Decodes and validates trades, rejects those late at the source, groups the rest by
    (pair, minute)."""

    def __init__(self, allowed_lateness_s: int, from_ns: int | None = None, until_ns: int | None = None):
        self._lateness_ns = allowed_lateness_s * NS_PER_SECOND
        self._from_ns = from_ns
        self._until_ns = until_ns
        self._counters = {reason: Metrics.counter("candles", f"dead_letters_{reason}")
                          for reason in ("undecodable", "invalid_trade", "late")}
        self._decoded = Metrics.counter("candles", "trades_decoded")
        self._outside = Metrics.counter("candles", "trades_outside_range")

    def process(self, batch: KafkaBatch) -> Iterator:
        watermark_us = batch.watermark_us
        late_before_ns = None if watermark_us is None else watermark_us * 1000 - self._lateness_ns
        by_minute: dict[tuple[str, int], list[TradeTuple]] = defaultdict(list)
        for record in batch.records:
            parsed = record.parsed
            if parsed is None:
                parsed, _ = parse_trade(record.key, record.value, record.timestamp_ms)
            if isinstance(parsed, RejectedTrade):
                rejected = parsed
                self._counters[rejected.reason].inc()
                yield beam.pvalue.TaggedOutput(DLQ_TAG, _dead_letter(
                    rejected.reason, rejected.detail, key=record.key or SOURCE.encode(), payload=record.value,
                    topic=record.topic, partition=record.partition, offset=record.offset))
                continue
            trade = parsed
            event_ns = trade.event_ns
            if (self._from_ns is not None and event_ns < self._from_ns) or \
                    (self._until_ns is not None and event_ns >= self._until_ns):
                self._outside.inc()
                continue
            minute_end = event_ns - event_ns % MINUTE_NS + MINUTE_NS
            if late_before_ns is not None and minute_end <= late_before_ns:
                self._counters["late"].inc()
                yield beam.pvalue.TaggedOutput(DLQ_TAG, _dead_letter(
                    "late", f"{trade.currency_pair} trade {trade.trade_id} at {event_ns} ns belongs to the minute "
                            f"ending {minute_end} ns, final since the watermark passed {late_before_ns} ns "
                            f"(allowed lateness {self._lateness_ns // NS_PER_SECOND} s)",
                    key=trade.currency_pair.encode(), payload=record.value, topic=record.topic,
                    partition=record.partition, offset=record.offset))
                continue
            self._decoded.inc()
            by_minute[(trade.currency_pair, minute_end - MINUTE_NS)].append(
                (trade.exchange, trade.trade_id, event_ns, trade.price, trade.size))
        for key, trades in by_minute.items():
            yield (key, (watermark_us, tuple(trades)))


class DecodeTrades(beam.PTransform):
    """KafkaBatch -> main ``trades``: ((pair, minute start), (watermark_us, trades));
    ``dead_letters``: (key, DeadLetter)."""

    def __init__(self, allowed_lateness_s: int, from_ns: int | None = None, until_ns: int | None = None):
        super().__init__()
        self._fn = DecodeTradesFn(allowed_lateness_s, from_ns, until_ns)

    def expand(self, batches):
        decoded = batches | "Decode" >> beam.ParDo(self._fn).with_outputs(DLQ_TAG, main="trades")
        # a (str, int) key coder: deterministic keys for the stateful stage
        trades = decoded.trades | "Typed" >> beam.Map(lambda kv: kv).with_output_types(
            tuple[tuple[str, int], typing.Any])
        return {"trades": trades, DLQ_TAG: decoded[DLQ_TAG]}


# ---------------------------------------------------------------- event-time timers


_UNKNOWN = -1  # after a timer fired, the other wake-ups may still be pending: always re-set or clear


def _schedule(next_ns: int | None, scheduled: int | None, tick, hour, day) -> int | None:
    """Set the tick timer at the next time the book needs, plus two wake-ups an hour and a
    day later. Flink fires a timer that was set in the past only at the next watermark
    update, one per update; the wake-ups let one update close up to a day of windows
    when the watermark jumps (a backlog, a restart, the end of a batch)."""
    if next_ns == scheduled:
        return scheduled
    if next_ns is None:
        tick.clear()
        hour.clear()
        day.clear()
        return None
    tick.set(Timestamp(micros=next_ns // 1000))
    hour.set(Timestamp(micros=(next_ns + HOUR_NS) // 1000))
    day.set(Timestamp(micros=(next_ns + DAY_NS) // 1000))
    return next_ns


def _fire_ns(timestamp: Timestamp) -> int:
    return timestamp.micros * 1000


# ---------------------------------------------------------------- stage 1: fold each (pair, minute)




class FoldMinutesFn(beam.DoFn):
    """Keyed by (pair, minute start): keeps the minute's trades, sends its fold when the
    watermark passes the minute's end and again whenever a late trade changes it, and forgets
    the minute once the allowed lateness has passed. State per minute keeps the cost of a
    minute's close independent of how many other minutes are open."""

    TRADES = userstate.BagStateSpec("trades", coders.FastPrimitivesCoder())  # one entry per arriving group
    SENT = userstate.ReadModifyWriteStateSpec("sent", coders.PickleCoder())  # values of the last fold sent
    CLOSE = userstate.TimerSpec("close", userstate.TimeDomain.WATERMARK)
    EXPIRE = userstate.TimerSpec("expire", userstate.TimeDomain.WATERMARK)

    def __init__(self, allowed_lateness_s: int):
        self._lateness_ns = allowed_lateness_s * NS_PER_SECOND
        self._folds = Metrics.counter("candles", "minute_folds_sent")

    @staticmethod
    def _fold(pair: str, ws: int, bag: Iterable[tuple[TradeTuple, ...]]) -> CandleRecord:
        trades = [TradeTick(exchange, pair, trade_id, event_ns, price, size)
                  for group in bag for exchange, trade_id, event_ns, price, size in group]
        return fold_minute(pair, ws, trades)

    def process(self, element: tuple[tuple[str, int], tuple[int | None, tuple[TradeTuple, ...]]],
                trades_state=beam.DoFn.StateParam(TRADES), sent_state=beam.DoFn.StateParam(SENT),
                close=beam.DoFn.TimerParam(CLOSE)) -> Iterator[tuple[str, CandleRecord]]:
        (pair, ws), (_watermark_us, trades) = element
        trades_state.add(trades)
        sent = sent_state.read()
        if sent is None:
            close.set(Timestamp(micros=(ws + MINUTE_NS) // 1000))
            return
        fold = self._fold(pair, ws, trades_state.read())  # a late trade for a closed minute
        if fold.values != sent:
            sent_state.write(fold.values)
            self._folds.inc()
            yield (pair, fold)

    @userstate.on_timer(CLOSE)
    def on_close(self, key=beam.DoFn.KeyParam, trades_state=beam.DoFn.StateParam(TRADES),
                 sent_state=beam.DoFn.StateParam(SENT), expire=beam.DoFn.TimerParam(EXPIRE)):
        pair, ws = key
        fold = self._fold(pair, ws, trades_state.read())
        sent_state.write(fold.values)
        expire.set(Timestamp(micros=(ws + MINUTE_NS + self._lateness_ns) // 1000))
        self._folds.inc()
        yield (pair, fold)

    @userstate.on_timer(EXPIRE)
    def on_expire(self, trades_state=beam.DoFn.StateParam(TRADES), sent_state=beam.DoFn.StateParam(SENT)):
        trades_state.clear()
        sent_state.clear()


class FoldMinutes(beam.PTransform):
    """((pair, minute), (watermark, trades)) -> (pair, 1-minute fold), again on late changes."""

    def __init__(self, allowed_lateness_s: int):
        super().__init__()
        self._fn = FoldMinutesFn(allowed_lateness_s)

    def expand(self, trades):
        return (trades
                | "Fold" >> beam.ParDo(self._fn).with_input_types(tuple[tuple[str, int], typing.Any])
                | "Typed" >> beam.Map(lambda kv: kv).with_output_types(tuple[str, typing.Any]))


# ---------------------------------------------------------------- stage 2: publish, fill, roll up


class BuildCandlesFn(beam.DoFn):
    """Keyed by pair: turns minute folds into published 1-minute candles (closing, fill-forward,
    revisions) and rolls those up into the higher timeframes. Both books are small.

    Timers: ``tick`` carries one dynamic timer per traded minute (tag = its start) plus the
    book's own next tick (tag ''), for filled minutes, roll-ups and expiry; ``tick_hour`` and
    ``tick_day`` are the wake-ups of ``_schedule``. Any of them fires ``on_tick(t)``, which
    handles everything up to ``t``."""

    BOOKS = userstate.ReadModifyWriteStateSpec("books", coders.PickleCoder())  # (minutes, rollups, scheduled)
    TICK = userstate.TimerSpec("tick", userstate.TimeDomain.WATERMARK)
    TICK_HOUR = userstate.TimerSpec("tick_hour", userstate.TimeDomain.WATERMARK)
    TICK_DAY = userstate.TimerSpec("tick_day", userstate.TimeDomain.WATERMARK)

    def __init__(self, higher: tuple[str, ...], allowed_lateness_s: int, fill_forward_cap_s: int,
                 fill_until_ns: int | None, emit_from_ns: int | None):
        self._higher = higher
        self._lateness_ns = allowed_lateness_s * NS_PER_SECOND
        self._cap_ns = fill_forward_cap_s * NS_PER_SECOND
        self._until_ns = fill_until_ns
        self._from_ns = emit_from_ns
        self._minutes = Metrics.counter("candles", "candles_1m_emitted")
        self._revisions = Metrics.counter("candles", "candles_revisions")
        self._rolled = Metrics.counter("candles", "candles_rollup_emitted")
        self._dropped = Metrics.counter("candles", "late_folds_dropped")

    def _new_books(self, pair: str) -> tuple[MinuteBook, RollupBook | None]:
        minutes = MinuteBook(pair, self._lateness_ns, self._cap_ns, fill_until_ns=self._until_ns)
        rollups = RollupBook(pair, self._higher, self._lateness_ns, fill_until_ns=self._until_ns,
                             emit_from_ns=self._from_ns) if self._higher else None
        return minutes, rollups

    def _publish(self, rollups: RollupBook | None, candles: list[CandleRecord]) -> Iterator[CandleRecord]:
        for candle in candles:
            self._minutes.inc()
            if candle.revision:
                self._revisions.inc()
            yield candle
            if rollups is not None:
                update = rollups.add_minute(candle)
                if update.dropped:
                    self._dropped.inc(len(update.dropped))
                    log.warning("roll-ups of %s are final; dropped revised minute %s", candle.currency_pair,
                                update.dropped[0])
                self._rolled.inc(len(update.candles))
                yield from update.candles

    def _next(self, minutes: MinuteBook, rollups: RollupBook | None) -> int | None:
        ticks = [t for t in (minutes.next_tick(), rollups.next_tick() if rollups else None) if t is not None]
        return min(ticks) if ticks else None

    def process(self, element: tuple[str, CandleRecord], books_state=beam.DoFn.StateParam(BOOKS),
                tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                day=beam.DoFn.TimerParam(TICK_DAY)) -> Iterator[CandleRecord]:
        pair, fold = element
        stored = books_state.read()
        minutes, rollups, scheduled = stored if stored else (*self._new_books(pair), None)
        if not minutes.is_closed(fold.window_start_ns):
            # One timer per traded minute, set before the watermark reaches it: when the watermark
            # jumps, Flink fires all of them in one update (a timer set in the past would wait for
            # the next update, one minute per update).
            tick.set(Timestamp(micros=fold.window_end_ns // 1000), dynamic_timer_tag=str(fold.window_start_ns))
        update = minutes.add_fold(fold)
        if update.dropped:
            # Normally impossible: DecodeTrades rejects trades that are late at the source.
            self._dropped.inc(len(update.dropped))
            log.warning("%s: a fold arrived for a final minute and was dropped: %s", pair, update.dropped[0])
        yield from self._publish(rollups, update.candles)
        scheduled = _schedule(self._next(minutes, rollups), scheduled, tick, hour, day)
        books_state.write((minutes, rollups, scheduled))

    def _on_tick(self, fire: Timestamp, books_state, tick, hour, day) -> Iterator[CandleRecord]:
        stored = books_state.read()
        if stored is None:
            return
        minutes, rollups, _ = stored
        fire_ns = _fire_ns(fire)
        yield from self._publish(rollups, minutes.on_tick(fire_ns))
        if rollups is not None:
            update = rollups.on_tick(fire_ns)
            self._rolled.inc(len(update.candles))
            yield from update.candles
        if minutes.idle and (rollups is None or rollups.idle):
            books_state.clear()
            _schedule(None, _UNKNOWN, tick, hour, day)
        else:
            books_state.write((minutes, rollups, _schedule(self._next(minutes, rollups), _UNKNOWN, tick, hour, day)))

    @userstate.on_timer(TICK)
    def on_tick(self, fire=beam.DoFn.TimestampParam, books_state=beam.DoFn.StateParam(BOOKS),
                tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, books_state, tick, hour, day)

    @userstate.on_timer(TICK_HOUR)
    def on_tick_hour(self, fire=beam.DoFn.TimestampParam, books_state=beam.DoFn.StateParam(BOOKS),
                     tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                     day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, books_state, tick, hour, day)

    @userstate.on_timer(TICK_DAY)
    def on_tick_day(self, fire=beam.DoFn.TimestampParam, books_state=beam.DoFn.StateParam(BOOKS),
                    tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                    day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, books_state, tick, hour, day)


class BuildCandles(beam.PTransform):
    """Keyed trades -> every candle: fold per minute, then per pair publish/fill/roll up.

    ``fill_until_ns`` / ``emit_from_ns`` bound a batch run: no window ending after / starting
    before them is emitted."""

    def __init__(self, timeframes: tuple[str, ...], allowed_lateness_s: int, fill_forward_cap_s: int,
                 fill_until_ns: int | None = None, emit_from_ns: int | None = None):
        super().__init__()
        self._lateness_s = allowed_lateness_s
        self._fn = BuildCandlesFn(higher_timeframes(timeframes), allowed_lateness_s, fill_forward_cap_s,
                                  fill_until_ns, emit_from_ns)

    def expand(self, trades):
        return (trades
                | "FoldMinutes" >> FoldMinutes(self._lateness_s)
                | "PublishFillRollUp" >> beam.ParDo(self._fn))


# ---------------------------------------------------------------- to Kafka


class EncodeCandles(beam.PTransform):
    """CandleRecord -> (``pair|timeframe``, Candle protobuf) with the emission time."""

    def expand(self, candles):
        return candles | "Encode" >> beam.Map(
            lambda c: (candle_key(c.currency_pair, c.timeframe),
                       candle_to_proto(c, emitted_at_ns=time.time_ns()).SerializeToString())
        ).with_output_types(tuple[bytes, bytes])

