"""The candle transforms: trades -> 1-minute candles -> higher timeframes.

    batches | DecodeTrades() | BuildMinuteCandles() | RollUpCandles() | EncodeCandles()

The DoFns are thin: arithmetic and state transitions live in ``tradestream.candles``
(``MinuteBook``, ``RollupBook``); here they are wired to Beam state and event-time timers.

Elements between stages are plain tuples (cheap for Beam's fast coders):
- trade: ``(exchange, trade_id, event_ns, price, size, partition, offset)``
- ``DecodeTrades`` output: ``(pair, (watermark_us | None, (trade, ...)))``, keyed by pair
- candles: ``CandleRecord``; dead letters: ``(key bytes, DeadLetter bytes)``
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

from streaming.pipeline.kafkaio import KafkaBatch
from tradestream.candles.book import Disposition, MinuteBook, RollupBook
from tradestream.candles.codec import RejectedTrade, candle_key, candle_to_proto, dead_letter, decode_trade
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.timeframes import MINUTE_NS, NS_PER_SECOND
from tradestream.v1 import market_pb2

log = logging.getLogger(__name__)

SOURCE = "pipeline:candles"
DLQ_TAG = "dead_letters"
HOUR_NS = 3600 * NS_PER_SECOND
DAY_NS = 24 * HOUR_NS

TradeTuple = tuple[str, str, int, float, float, int, int]


def trade_event_time_us(key: bytes | None, value: bytes | None, timestamp_ms: int) -> int | None:
    """Event time of a ``trades`` record for the reader's watermark (None if undecodable)."""
    if value is None:
        return None
    try:
        trade = market_pb2.Trade.FromString(value)
    except Exception:  # noqa: BLE001 - anything undecodable simply has no event time; DecodeTrades reports it
        return None
    if trade.event_time.seconds <= 0:
        return None
    return trade.event_time.seconds * 1_000_000 + trade.event_time.nanos // 1000


def _dead_letter(reason: str, detail: str, *, key: bytes, payload: bytes | None, topic: str, partition: int,
                 offset: int) -> tuple[bytes, bytes]:
    message = dead_letter(source=SOURCE, reason=reason, detail=detail, payload=payload, original_topic=topic,
                          original_partition=partition, original_offset=offset, rejected_at_ns=time.time_ns())
    return key, message.SerializeToString()


class DecodeTradesFn(beam.DoFn):
    """Decodes and validates trades, rejects those late at the source, groups the rest by pair."""

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
        by_pair: dict[str, list[TradeTuple]] = defaultdict(list)
        for record in batch.records:
            try:
                trade = decode_trade(record.value, record.key)
            except RejectedTrade as rejected:
                self._counters[rejected.reason].inc()
                yield beam.pvalue.TaggedOutput(DLQ_TAG, _dead_letter(
                    rejected.reason, rejected.detail, key=record.key or SOURCE.encode(), payload=record.value,
                    topic=record.topic, partition=record.partition, offset=record.offset))
                continue
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
            by_pair[trade.currency_pair].append((trade.exchange, trade.trade_id, event_ns, trade.price, trade.size,
                                                 record.partition, record.offset))
        for pair, trades in by_pair.items():
            yield (pair, (watermark_us, tuple(trades)))


class DecodeTrades(beam.PTransform):
    """KafkaBatch -> main ``trades``: (pair, (watermark_us, trades)); ``dead_letters``: (key, DeadLetter)."""

    def __init__(self, allowed_lateness_s: int, from_ns: int | None = None, until_ns: int | None = None):
        super().__init__()
        self._fn = DecodeTradesFn(allowed_lateness_s, from_ns, until_ns)

    def expand(self, batches):
        decoded = batches | "Decode" >> beam.ParDo(self._fn).with_outputs(DLQ_TAG, main="trades")
        # a str key coder: deterministic keys for the stateful stage
        trades = decoded.trades | "Typed" >> beam.Map(lambda kv: kv).with_output_types(tuple[str, typing.Any])
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


# ---------------------------------------------------------------- 1-minute candles


_TRADE_BAG_CODER = coders.TupleCoder([coders.VarIntCoder(), coders.StrUtf8Coder(), coders.StrUtf8Coder(),
                                      coders.VarIntCoder(), coders.FloatCoder(), coders.FloatCoder(),
                                      coders.VarIntCoder(), coders.VarIntCoder()])


def _trades_by_window(bag: Iterable[tuple], pair: str) -> dict[int, list[TradeTick]]:
    grouped: dict[int, list[TradeTick]] = defaultdict(list)
    for ws, exchange, trade_id, event_ns, price, size, _partition, _offset in bag:
        grouped[ws].append(TradeTick(exchange, pair, trade_id, event_ns, price, size))
    return grouped


class BuildMinuteCandlesFn(beam.DoFn):
    BOOK = userstate.ReadModifyWriteStateSpec("book", coders.PickleCoder())
    TRADES = userstate.BagStateSpec("trades", _TRADE_BAG_CODER)
    TICK = userstate.TimerSpec("tick", userstate.TimeDomain.WATERMARK)
    TICK_HOUR = userstate.TimerSpec("tick_hour", userstate.TimeDomain.WATERMARK)
    TICK_DAY = userstate.TimerSpec("tick_day", userstate.TimeDomain.WATERMARK)

    def __init__(self, allowed_lateness_s: int, fill_forward_cap_s: int, fill_until_ns: int | None,
                 trades_topic: str):
        self._lateness_ns = allowed_lateness_s * NS_PER_SECOND
        self._cap_ns = fill_forward_cap_s * NS_PER_SECOND
        self._until_ns = fill_until_ns
        self._trades_topic = trades_topic
        self._emitted = Metrics.counter("candles", "candles_1m_emitted")
        self._revisions = Metrics.counter("candles", "candles_1m_revisions")
        self._late = Metrics.counter("candles", "dead_letters_late")

    def process(self, element: tuple[str, tuple[int | None, tuple[TradeTuple, ...]]],
                book_state=beam.DoFn.StateParam(BOOK), trades_state=beam.DoFn.StateParam(TRADES),
                tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                day=beam.DoFn.TimerParam(TICK_DAY)) -> Iterator:
        pair, (_watermark_us, trades) = element
        stored = book_state.read()
        book, scheduled = stored if stored else (MinuteBook(pair, self._lateness_ns, self._cap_ns, self._until_ns),
                                                 None)
        revised: set[int] = set()
        for exchange, trade_id, event_ns, price, size, partition, offset in trades:
            ws = event_ns - event_ns % MINUTE_NS
            disposition = book.classify(ws)
            if disposition is Disposition.LATE:
                # Normally caught at the source (DecodeTrades); this guards readers racing ahead.
                self._late.inc()
                payload = market_pb2.Trade(exchange=exchange, currency_pair=pair, trade_id=trade_id, price=price,
                                           size=size)
                payload.event_time.FromNanoseconds(event_ns)
                yield beam.pvalue.TaggedOutput(DLQ_TAG, _dead_letter(
                    "late", f"{pair} trade {trade_id}: its minute {ws} ns is final (re-encoded payload)",
                    key=pair.encode(), payload=payload.SerializeToString(), topic=self._trades_topic,
                    partition=partition, offset=offset))
                continue
            trades_state.add((ws, exchange, trade_id, event_ns, price, size, partition, offset))
            if disposition is Disposition.OPEN:
                book.add_open(ws)
            else:
                revised.add(ws)
        if revised:
            by_window = _trades_by_window(trades_state.read(), pair)
            for candle in book.revise(revised, lambda ws: by_window.get(ws, [])):
                self._revisions.inc()
                yield candle
        scheduled = _schedule(book.next_tick(), scheduled, tick, hour, day)
        book_state.write((book, scheduled))

    def _on_tick(self, fire: Timestamp, book_state, trades_state, tick, hour, day) -> Iterator[CandleRecord]:
        stored = book_state.read()
        if stored is None:
            return
        book, _ = stored
        bag = list(trades_state.read())
        by_window = _trades_by_window(bag, book.currency_pair)
        result = book.on_tick(_fire_ns(fire), lambda ws: by_window.get(ws, []))
        if result.expired_through_ns is not None:
            keep = [entry for entry in bag if entry[0] + MINUTE_NS > result.expired_through_ns]
            if len(keep) != len(bag):
                trades_state.clear()
                for entry in keep:
                    trades_state.add(entry)
        self._emitted.inc(len(result.candles))
        yield from result.candles
        if book.idle:
            book_state.clear()
            trades_state.clear()
            _schedule(None, _UNKNOWN, tick, hour, day)
        else:
            book_state.write((book, _schedule(book.next_tick(), _UNKNOWN, tick, hour, day)))

    @userstate.on_timer(TICK)
    def on_tick(self, fire=beam.DoFn.TimestampParam, book_state=beam.DoFn.StateParam(BOOK),
                trades_state=beam.DoFn.StateParam(TRADES), tick=beam.DoFn.TimerParam(TICK),
                hour=beam.DoFn.TimerParam(TICK_HOUR), day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, book_state, trades_state, tick, hour, day)

    @userstate.on_timer(TICK_HOUR)
    def on_tick_hour(self, fire=beam.DoFn.TimestampParam, book_state=beam.DoFn.StateParam(BOOK),
                     trades_state=beam.DoFn.StateParam(TRADES), tick=beam.DoFn.TimerParam(TICK),
                     hour=beam.DoFn.TimerParam(TICK_HOUR), day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, book_state, trades_state, tick, hour, day)

    @userstate.on_timer(TICK_DAY)
    def on_tick_day(self, fire=beam.DoFn.TimestampParam, book_state=beam.DoFn.StateParam(BOOK),
                    trades_state=beam.DoFn.StateParam(TRADES), tick=beam.DoFn.TimerParam(TICK),
                    hour=beam.DoFn.TimerParam(TICK_HOUR), day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, book_state, trades_state, tick, hour, day)


def BuildMinuteCandles(allowed_lateness_s: int, fill_forward_cap_s: int,  # noqa: N802
                       fill_until_ns: int | None = None, trades_topic: str = "trades") -> beam.ParDo:
    return (beam.ParDo(BuildMinuteCandlesFn(allowed_lateness_s, fill_forward_cap_s, fill_until_ns, trades_topic))
            .with_input_types(tuple[str, typing.Any])
            .with_outputs(DLQ_TAG, main="candles"))


# ---------------------------------------------------------------- higher timeframes


class RollUpCandlesFn(beam.DoFn):
    BOOK = userstate.ReadModifyWriteStateSpec("book", coders.PickleCoder())
    TICK = userstate.TimerSpec("tick", userstate.TimeDomain.WATERMARK)
    TICK_HOUR = userstate.TimerSpec("tick_hour", userstate.TimeDomain.WATERMARK)
    TICK_DAY = userstate.TimerSpec("tick_day", userstate.TimeDomain.WATERMARK)

    def __init__(self, timeframes: tuple[str, ...], allowed_lateness_s: int, fill_until_ns: int | None,
                 emit_from_ns: int | None):
        self._timeframes = timeframes
        self._lateness_ns = allowed_lateness_s * NS_PER_SECOND
        self._until_ns = fill_until_ns
        self._from_ns = emit_from_ns
        self._emitted = Metrics.counter("candles", "candles_rollup_emitted")
        self._dropped = Metrics.counter("candles", "rollup_minutes_dropped")

    def _new_book(self, pair: str) -> RollupBook:
        return RollupBook(pair, self._timeframes, self._lateness_ns, fill_until_ns=self._until_ns,
                          emit_from_ns=self._from_ns)

    def process(self, element: tuple[str, CandleRecord], book_state=beam.DoFn.StateParam(BOOK),
                tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                day=beam.DoFn.TimerParam(TICK_DAY)) -> Iterator[CandleRecord]:
        pair, candle = element
        stored = book_state.read()
        book, scheduled = stored if stored else (self._new_book(pair), None)
        update = book.add_minute(candle)
        if update.dropped:
            self._dropped.inc(len(update.dropped))
            log.warning("roll-ups of %s are final; dropped revised minute %s", pair, update.dropped[0])
        self._emitted.inc(len(update.candles))
        yield from update.candles
        book_state.write((book, _schedule(book.next_tick(), scheduled, tick, hour, day)))

    def _on_tick(self, fire: Timestamp, book_state, tick, hour, day) -> Iterator[CandleRecord]:
        stored = book_state.read()
        if stored is None:
            return
        book, _ = stored
        result = book.on_tick(_fire_ns(fire))
        self._emitted.inc(len(result.candles))
        yield from result.candles
        if book.idle:
            book_state.clear()
            _schedule(None, _UNKNOWN, tick, hour, day)
        else:
            book_state.write((book, _schedule(book.next_tick(), _UNKNOWN, tick, hour, day)))

    @userstate.on_timer(TICK)
    def on_tick(self, fire=beam.DoFn.TimestampParam, book_state=beam.DoFn.StateParam(BOOK),
                tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, book_state, tick, hour, day)

    @userstate.on_timer(TICK_HOUR)
    def on_tick_hour(self, fire=beam.DoFn.TimestampParam, book_state=beam.DoFn.StateParam(BOOK),
                     tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                     day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, book_state, tick, hour, day)

    @userstate.on_timer(TICK_DAY)
    def on_tick_day(self, fire=beam.DoFn.TimestampParam, book_state=beam.DoFn.StateParam(BOOK),
                    tick=beam.DoFn.TimerParam(TICK), hour=beam.DoFn.TimerParam(TICK_HOUR),
                    day=beam.DoFn.TimerParam(TICK_DAY)):
        yield from self._on_tick(fire, book_state, tick, hour, day)


class RollUpCandles(beam.PTransform):
    """1-minute candles (with revisions) -> candles of the higher ``timeframes``."""

    def __init__(self, timeframes: tuple[str, ...], allowed_lateness_s: int, fill_until_ns: int | None = None,
                 emit_from_ns: int | None = None):
        super().__init__()
        self._fn = RollUpCandlesFn(timeframes, allowed_lateness_s, fill_until_ns, emit_from_ns)

    def expand(self, minutes):
        return (minutes
                | "KeyByPair" >> beam.Map(lambda c: (c.currency_pair, c)).with_output_types(tuple[str, typing.Any])
                | "RollUp" >> beam.ParDo(self._fn))


# ---------------------------------------------------------------- to Kafka


class EncodeCandles(beam.PTransform):
    """CandleRecord -> (``pair|timeframe``, Candle protobuf) with the emission time."""

    def expand(self, candles):
        return candles | "Encode" >> beam.Map(
            lambda c: (candle_key(c.currency_pair, c.timeframe),
                       candle_to_proto(c, emitted_at_ns=time.time_ns()).SerializeToString())
        ).with_output_types(tuple[bytes, bytes])

