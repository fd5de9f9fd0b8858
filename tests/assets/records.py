"""Building real protobuf records and producing them to Kafka with chosen timestamps."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from tradestream.v1 import market_pb2, strategy_pb2


def ts(message_field, moment: datetime) -> None:
    message_field.FromDatetime(moment.astimezone(UTC).replace(tzinfo=None))


def trade(pair: str, trade_id: str, price: float, size: float, at: datetime) -> bytes:
    m = market_pb2.Trade(exchange="simulator", currency_pair=pair, trade_id=trade_id, price=price, size=size,
                         taker_side=market_pb2.TAKER_SIDE_BUY)
    ts(m.event_time, at)
    ts(m.ingest_time, at)
    return m.SerializeToString()


def candle(pair: str, timeframe: str, start: datetime, o: float, h: float, lo: float, c: float, volume: float,
           revision: int = 0, minutes: int = 1, filled: bool = False, trades: int = 1) -> bytes:
    m = market_pb2.Candle(currency_pair=pair, timeframe=timeframe, open=o, high=h, low=lo, close=c, volume=volume,
                          vwap=(o + c) / 2, trade_count=trades, filled=filled, revision=revision)
    ts(m.window_start, start)
    ts(m.window_end, start + timedelta(minutes=minutes))
    ts(m.emitted_at, start + timedelta(minutes=minutes, seconds=revision))
    return m.SerializeToString()


def signal(strategy: str, params: dict, pair: str, timeframe: str, candle_time: datetime, kind: int,
           price: float) -> bytes:
    m = strategy_pb2.Signal(type=kind, currency_pair=pair, timeframe=timeframe, price=price, reason="test")
    m.strategy.strategy = strategy
    for name, value in params.items():
        p = m.strategy.parameters.add(name=name)
        if isinstance(value, int):
            p.int_value = value
        else:
            p.double_value = value
    ts(m.candle_time, candle_time)
    ts(m.emitted_at, candle_time + timedelta(minutes=1))
    m.signal_id = f"{strategy}-{pair}-{candle_time.isoformat()}"
    return m.SerializeToString()


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

