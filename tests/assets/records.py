"""Building real protobuf records (with the platform's own encoders) and producing them to Kafka with chosen
timestamps."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pandas as pd
from confluent_kafka import Producer

from tradestream.candles.codec import candle_to_proto
from tradestream.candles.model import CandleRecord
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.wire import encode_trades
from tradestream.strategies.live import LiveSignal
from tradestream.v1 import strategy_pb2


def _ns(moment: datetime) -> int:
    return pd.Timestamp(moment.astimezone(UTC)).value


def trade(pair: str, trade_id: str, price: float, size: float, at: datetime) -> bytes:
    record = TradeRecord("simulator", pair, trade_id, price, size, TakerSide.BUY, _ns(at))
    return encode_trades([record], _ns(at))[0]


def candle(pair: str, timeframe: str, start: datetime, o: float, h: float, lo: float, c: float, volume: float,
           revision: int = 0, minutes: int = 1, filled: bool = False, trades: int = 1) -> bytes:
    end = start + timedelta(minutes=minutes)
    record = CandleRecord(pair, timeframe, _ns(start), _ns(end), o, h, lo, c, volume, vwap=(o + c) / 2,
                          trade_count=trades, filled=filled, revision=revision)
    return candle_to_proto(record, emitted_at_ns=_ns(end + timedelta(seconds=revision))).SerializeToString()


def signal(strategy: str, params: dict, pair: str, timeframe: str, candle_time: datetime, kind: int,
           price: float) -> bytes:
    sides = {strategy_pb2.SIGNAL_TYPE_BUY: "BUY", strategy_pb2.SIGNAL_TYPE_SELL: "SELL"}
    live = LiveSignal(strategy, params, pair, timeframe, pd.Timestamp(candle_time.astimezone(UTC)), price,
                      sides[kind], reason="test")
    return live.to_proto(emitted_at=(candle_time + timedelta(minutes=1)).astimezone(UTC)).SerializeToString()


def produce(bootstrap: str, topic: str, records: Iterable[tuple[str, bytes, datetime]]) -> int:
    """Produce (key, value, kafka timestamp) records in the given order; returns how many."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    count = 0
    for key, value, at in records:
        producer.produce(topic, value, key.encode(), timestamp=int(at.timestamp() * 1000))
        count += 1
    assert producer.flush(30) == 0
    return count


def wait_until(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

