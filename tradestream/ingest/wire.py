"""The one encoder of ``tradestream.v1.Trade``: trades to the bytes of the ``trades`` topic.

``encode_trades`` takes either a columnar batch (:class:`TradeColumns`, dry mode's
simulator) or a sequence of :class:`TradeRecord` (exchanges, replay, the warehouse
rebuild, test builders) and returns one serialized ``Trade`` per trade.

Why two paths inside one function: protobuf's Python API serializes one message at a
time, and setting a ``Trade``'s eleven fields and serializing it costs about as much CPU
as the Kafka ``produce`` call, which would cap dry mode well below the bare producer. A
columnar batch is therefore written with numpy, producing exactly the bytes
``Trade.SerializeToString()`` produces (fields in number order, proto3 defaults
omitted); ``tests/ingestion/test_wire.py`` checks that byte for byte against protobuf.
The parts that are the same for many trades -- exchange and pair (fields 1-2), ingest
time and the repaired flag (fields 8-9) -- are serialized by protobuf itself. numpy's fixed cost per call makes
that path slower than protobuf below a few hundred trades (an exchange message holds a
handful), so records go through protobuf's serializer, reusing one message per batch
(``python benchmarks/trade_encoding.py``: numpy about 1.7x faster at 500 trades a batch,
50x slower at one).
``check_schema`` fails loudly if ``Trade`` changes shape, so the encoder can never
silently drop a new field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from google.protobuf.descriptor import FieldDescriptor

from tradestream.ingest.columns import TradeColumns
from tradestream.ingest.trade import NANOS_PER_SECOND, TradeRecord
from tradestream.v1 import market_pb2

# (number, name, type) of every Trade field, as this encoder writes them.
_EXPECTED_FIELDS = (
    (1, "exchange", FieldDescriptor.TYPE_STRING), (2, "currency_pair", FieldDescriptor.TYPE_STRING),
    (3, "trade_id", FieldDescriptor.TYPE_STRING), (4, "price", FieldDescriptor.TYPE_DOUBLE),
    (5, "size", FieldDescriptor.TYPE_DOUBLE), (6, "taker_side", FieldDescriptor.TYPE_ENUM),
    (7, "event_time", FieldDescriptor.TYPE_MESSAGE), (8, "ingest_time", FieldDescriptor.TYPE_MESSAGE),
    (9, "repaired", FieldDescriptor.TYPE_BOOL),
)
_TAG_TRADE_ID, _TAG_PRICE, _TAG_SIZE, _TAG_SIDE, _TAG_EVENT_TIME = 0x1A, 0x21, 0x29, 0x30, 0x3A
_TAG_SECONDS, _TAG_NANOS = 0x08, 0x10
# Epoch seconds from 2^28 (1978) to 2^35 (3058) are exactly five varint bytes.
_MIN_SECONDS, _MAX_SECONDS = 2**28, 2**35 - 1
_POWERS_OF_TEN = 10 ** np.arange(19, dtype=np.uint64)


class WireSchemaError(RuntimeError):
    """``tradestream.v1.Trade`` no longer has the fields this encoder writes."""


def check_schema() -> None:
    fields = tuple((f.number, f.name, f.type) for f in sorted(market_pb2.Trade.DESCRIPTOR.fields,
                                                              key=lambda f: f.number))
    if fields != _EXPECTED_FIELDS:
        raise WireSchemaError(f"tradestream.v1.Trade changed ({fields}); update tradestream/ingest/wire.py "
                              "to encode the new fields (and its byte-for-byte test)")


check_schema()


def _varint_lengths(values: np.ndarray) -> np.ndarray:
    lengths = np.ones(len(values), dtype=np.int64)
    for shift in range(7, 64, 7):
        lengths += values >= (np.uint64(1) << np.uint64(shift))
    return lengths


def _varint_bytes(values: np.ndarray, width: int, lengths: np.ndarray) -> np.ndarray:
    """n x width little-endian base-128 groups with continuation bits (row i valid up to lengths[i])."""
    groups = ((values[:, None] >> (np.arange(width, dtype=np.uint64) * np.uint64(7))[None, :]) & np.uint64(0x7F))
    out = groups.astype(np.uint8)
    out[np.arange(width)[None, :] < (lengths[:, None] - 1)] |= 0x80
    return out


class _Slots:
    """Rows laid out in fixed-width slots, then squeezed together.

    Each field gets a slot as wide as its longest value; a field shorter in some row
    leaves a gap at the end of its slot. Writing whole slots is plain slice assignment,
    and one boolean mask over the matrix drops the gaps, leaving the rows back to back.
    """

    def __init__(self, n: int, widths: list[int]):
        self.matrix = np.empty((n, sum(widths)), dtype=np.uint8)
        self.keep = np.ones((n, sum(widths)), dtype=bool)
        self.lengths = np.zeros(n, dtype=np.int64)
        self._widths = widths
        self._slot = 0
        self._column = 0

    def put(self, block: np.ndarray, lengths: np.ndarray | None = None) -> None:
        width = self._widths[self._slot]
        columns = slice(self._column, self._column + width)
        self.matrix[:, columns] = block
        if lengths is None:
            self.lengths += width
        else:
            self.keep[:, columns] = np.arange(width)[None, :] < lengths[:, None]
            self.lengths += lengths
        self._slot += 1
        self._column += width

    def rows(self) -> list[bytes]:
        data = self.matrix[self.keep].tobytes()
        ends = np.cumsum(self.lengths).tolist()
        return [data[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]


def encode_trades(trades: TradeColumns | Sequence[TradeRecord], ingest_time_ns: int | None, *,
                  repaired: bool = False) -> list[bytes]:
    """One serialized ``Trade`` per trade, in order; ``ingest_time_ns`` None leaves ``ingest_time`` unset.

    ``repaired`` marks the whole batch as fetched over REST to fill a gap of the live stream.
    """
    if isinstance(trades, TradeColumns):
        return _encode_columns(trades, ingest_time_ns, repaired)
    return _encode_records(trades, ingest_time_ns, repaired)


def _encode_records(trades: Sequence[TradeRecord], ingest_time_ns: int | None, repaired: bool) -> list[bytes]:
    # One message cleared and refilled per trade: cheaper than a fresh message and two Timestamps each.
    message = market_pb2.Trade(repaired=repaired)
    event_time, ingest_time = message.event_time, message.ingest_time
    serialize = message.SerializeToString
    ingest = None if ingest_time_ns is None else divmod(ingest_time_ns, NANOS_PER_SECOND)
    out = []
    for trade in trades:
        message.exchange = trade.exchange
        message.currency_pair = trade.currency_pair
        message.trade_id = trade.trade_id
        message.price = trade.price
        message.size = trade.size
        message.taker_side = trade.taker_side
        event_time.seconds, event_time.nanos = divmod(trade.event_time_ns, NANOS_PER_SECOND)
        if ingest is not None:
            ingest_time.seconds, ingest_time.nanos = ingest
        out.append(serialize())
    return out


def _encode_columns(columns: TradeColumns, ingest_time_ns: int | None, repaired: bool) -> list[bytes]:
    """One serialized ``Trade`` per row, identical to protobuf's own serialization."""
    n = len(columns)
    if n == 0:
        return []
    seconds, nanos = np.divmod(columns.event_ns, NANOS_PER_SECOND)
    if seconds.min() < _MIN_SECONDS or seconds.max() > _MAX_SECONDS:
        raise ValueError("event times must lie between 1978 and 3058 for the vectorized encoder")
    if not (np.all(columns.price > 0) and np.all(columns.size > 0) and np.all(columns.number >= 1)
            and np.all((columns.side == 1) | (columns.side == 2))):
        raise ValueError("vectorized encoding needs positive prices, sizes and numbers and a BUY/SELL side")

    # Fields 1-2 per pair and fields 8-9 per batch are serialized by protobuf itself.
    heads = [market_pb2.Trade(exchange=columns.exchange, currency_pair=pair).SerializeToString()
             for pair in columns.pairs]
    head_table = np.zeros((len(heads), max(len(h) for h in heads)), dtype=np.uint8)
    for k, head in enumerate(heads):
        head_table[k, :len(head)] = np.frombuffer(head, dtype=np.uint8)
    head_lengths = np.array([len(h) for h in heads], dtype=np.int64)[columns.pair_index]
    ingest = market_pb2.Trade(repaired=repaired)
    if ingest_time_ns is not None:
        ingest.ingest_time.seconds, ingest.ingest_time.nanos = divmod(ingest_time_ns, NANOS_PER_SECOND)
    tail = np.frombuffer(ingest.SerializeToString(), dtype=np.uint8)

    # Field 3: trade_id = id_prefix + the decimal digits of number.
    prefix = np.frombuffer(columns.id_prefix.encode(), dtype=np.uint8)
    number = columns.number.astype(np.uint64)
    digits = 1 + (number[:, None] >= _POWERS_OF_TEN[None, 1:]).sum(axis=1)
    id_lengths = len(prefix) + digits
    if id_lengths.max() > 127:
        raise ValueError("trade ids longer than 127 bytes need a two-byte length; not expected here")
    place = digits[:, None] - 1 - np.arange(int(digits.max()))[None, :]       # power of ten of each digit
    digit_bytes = (number[:, None] // _POWERS_OF_TEN[np.clip(place, 0, 18)] % np.uint64(10)).astype(np.uint8)
    digit_bytes += ord("0")
    id_head = np.empty((n, 2 + len(prefix)), dtype=np.uint8)
    id_head[:, 0] = _TAG_TRADE_ID
    id_head[:, 1] = id_lengths
    id_head[:, 2:] = prefix

    # Fields 4-7 up to the seconds of event_time are fixed width: 28 bytes.
    nanos_u = nanos.astype(np.uint64)
    nano_lengths = _varint_lengths(nanos_u)
    nanos_field_lengths = np.where(nanos_u > 0, 1 + nano_lengths, 0)      # proto3 omits nanos == 0
    body = np.empty((n, 28), dtype=np.uint8)
    body[:, 0] = _TAG_PRICE
    body[:, 1:9] = columns.price.astype("<f8").view(np.uint8).reshape(n, 8)
    body[:, 9] = _TAG_SIZE
    body[:, 10:18] = columns.size.astype("<f8").view(np.uint8).reshape(n, 8)
    body[:, 18] = _TAG_SIDE
    body[:, 19] = columns.side
    body[:, 20] = _TAG_EVENT_TIME
    body[:, 21] = 1 + 5 + nanos_field_lengths
    body[:, 22] = _TAG_SECONDS
    body[:, 23:28] = _varint_bytes(seconds.astype(np.uint64), 5, np.full(n, 5))
    nanos_field = np.empty((n, 6), dtype=np.uint8)
    nanos_field[:, 0] = _TAG_NANOS
    nanos_field[:, 1:] = _varint_bytes(nanos_u, 5, nano_lengths)

    slots = _Slots(n, [head_table.shape[1], id_head.shape[1], digit_bytes.shape[1], body.shape[1],
                       nanos_field.shape[1], len(tail)])
    slots.put(head_table[columns.pair_index], head_lengths)
    slots.put(id_head)
    slots.put(digit_bytes, digits)
    slots.put(body)
    slots.put(nanos_field, nanos_field_lengths)
    slots.put(tail)
    return slots.rows()
