"""The trade as the ingestion layer holds it, and its Kafka contract.

``TradeRecord`` is what every exchange adapter, the simulator and the replay reader
produce after validation; ``tradestream.ingest.wire.encode_trades`` turns it into the
protobuf ``Trade`` that goes to the ``trades`` topic. Times are integer nanoseconds since the Unix epoch so
that exchange timestamps (Coinbase sends nanoseconds) survive unchanged.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from tradestream.v1 import market_pb2

#: Bumped when the meaning of the ``trades`` value changes; sent as a Kafka header.
TRADE_SCHEMA = "tradestream.v1.Trade"
TRADE_SCHEMA_VERSION = "1"
DEAD_LETTER_SCHEMA = "tradestream.v1.DeadLetter"

NANOS_PER_SECOND = 1_000_000_000


class TakerSide(IntEnum):
    """Mirrors ``tradestream.v1.TakerSide`` so the core can name sides without protobuf."""

    UNSPECIFIED = market_pb2.TAKER_SIDE_UNSPECIFIED
    BUY = market_pb2.TAKER_SIDE_BUY
    SELL = market_pb2.TAKER_SIDE_SELL


class TradeRecord(NamedTuple):
    """One validated trade. ``price`` and ``size`` are finite and > 0 by construction.

    A NamedTuple rather than a frozen dataclass: dry mode builds hundreds of thousands
    a second, and tuple construction is several times cheaper.
    """

    exchange: str
    currency_pair: str
    trade_id: str
    price: float
    size: float
    taker_side: TakerSide
    event_time_ns: int

    @property
    def identity(self) -> tuple[str, str, str]:
        """What downstream consumers dedupe on: (exchange, pair, trade_id)."""
        return (self.exchange, self.currency_pair, self.trade_id)


def trade_from_proto(message: market_pb2.Trade) -> TradeRecord:
    """The inverse of :func:`tradestream.ingest.wire.encode_trades` (ingest time is dropped)."""
    return TradeRecord(
        exchange=message.exchange,
        currency_pair=message.currency_pair,
        trade_id=message.trade_id,
        price=message.price,
        size=message.size,
        taker_side=TakerSide(message.taker_side),
        event_time_ns=message.event_time.seconds * NANOS_PER_SECOND + message.event_time.nanos,
    )
