"""Protobuf at the edges of the candle code: Trade in, Candle and DeadLetter out."""

from __future__ import annotations

import math

from google.protobuf.message import DecodeError

from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.wire import encode_trades
from tradestream.timeframes import NS_PER_SECOND, TIMEFRAME_NS
from tradestream.v1 import market_pb2

CANDLE_KEY_SEPARATOR = "|"


class RejectedTrade(ValueError):
    """A trade record that cannot be used. ``reason`` is the dead-letter reason string."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode_trade(payload: bytes | None, key: bytes | None = None) -> TradeTick:
    """The trade in a ``trades`` record, or ``RejectedTrade`` saying what is wrong with it.

    Reasons: ``undecodable`` (not a Trade protobuf) and ``invalid_trade`` (a Trade whose
    fields break the contract in protos/tradestream/v1/market.proto).
    """
    if payload is None:
        raise RejectedTrade("undecodable", "record has no value; a trades record must hold a Trade protobuf")
    try:
        trade = market_pb2.Trade.FromString(payload)
    except DecodeError as exc:
        raise RejectedTrade("undecodable", f"value of {len(payload)} bytes is not a Trade protobuf: {exc}") from None
    pair = trade.currency_pair
    if not pair:
        raise RejectedTrade("invalid_trade", "currency_pair is empty")
    if key is not None and key != pair.encode():
        raise RejectedTrade("invalid_trade", f"record key {key!r} differs from currency_pair {pair!r}; "
                                             "the publisher must key trades by their pair")
    if not trade.exchange:
        raise RejectedTrade("invalid_trade", f"{pair}: exchange is empty")
    if not trade.trade_id:
        raise RejectedTrade("invalid_trade", f"{pair}: trade_id is empty")
    if not (math.isfinite(trade.price) and trade.price > 0):
        raise RejectedTrade("invalid_trade", f"{pair} trade {trade.trade_id}: price {trade.price!r} must be > 0")
    if not (math.isfinite(trade.size) and trade.size > 0):
        raise RejectedTrade("invalid_trade", f"{pair} trade {trade.trade_id}: size {trade.size!r} must be > 0")
    if not trade.HasField("event_time") or trade.event_time.seconds <= 0:
        raise RejectedTrade("invalid_trade", f"{pair} trade {trade.trade_id}: event_time is missing")
    event_ns = trade.event_time.seconds * NS_PER_SECOND + trade.event_time.nanos
    return TradeTick(trade.exchange, pair, trade.trade_id, event_ns, trade.price, trade.size)


def encode_trade(trade: TradeTick) -> bytes:
    """The ``trades`` record of a tick (taker side and ingest time unknown), by the one Trade encoder."""
    record = TradeRecord(trade.exchange, trade.currency_pair, trade.trade_id, trade.price, trade.size,
                         TakerSide.UNSPECIFIED, trade.event_ns)
    return encode_trades((record,), None)[0]


def candle_key(currency_pair: str, timeframe: str) -> bytes:
    """Kafka key of a candle: ``pair|timeframe``."""
    return f"{currency_pair}{CANDLE_KEY_SEPARATOR}{timeframe}".encode()


def candle_to_proto(candle: CandleRecord, emitted_at_ns: int | None = None) -> market_pb2.Candle:
    message = market_pb2.Candle(
        currency_pair=candle.currency_pair, timeframe=candle.timeframe, open=candle.open, high=candle.high,
        low=candle.low, close=candle.close, volume=candle.volume, vwap=candle.vwap,
        trade_count=candle.trade_count, filled=candle.filled, revision=candle.revision)
    message.window_start.FromNanoseconds(candle.window_start_ns)
    message.window_end.FromNanoseconds(candle.window_end_ns)
    if emitted_at_ns is not None:
        message.emitted_at.FromNanoseconds(emitted_at_ns)
    return message


def candle_from_proto(message: market_pb2.Candle) -> CandleRecord:
    """A candle read back from Kafka. The exact-sum partials are not published: the record
    holds the rounded sums only (enough for comparison, not for further roll-ups)."""
    if message.timeframe not in TIMEFRAME_NS:
        raise ValueError(f"candle of {message.currency_pair!r} has unknown timeframe {message.timeframe!r}")
    return CandleRecord(
        currency_pair=message.currency_pair, timeframe=message.timeframe,
        window_start_ns=message.window_start.ToNanoseconds(), window_end_ns=message.window_end.ToNanoseconds(),
        open=message.open, high=message.high, low=message.low, close=message.close, volume=message.volume,
        vwap=message.vwap, trade_count=message.trade_count, filled=message.filled, revision=message.revision)


def dead_letter(*, source: str, reason: str, detail: str, payload: bytes | None, original_topic: str,
                original_partition: int, original_offset: int, rejected_at_ns: int) -> market_pb2.DeadLetter:
    message = market_pb2.DeadLetter(source=source, reason=reason, detail=detail, payload=payload or b"",
                                    original_topic=original_topic, original_partition=original_partition,
                                    original_offset=original_offset)
    message.rejected_at.FromNanoseconds(rejected_at_ns)
    return message
