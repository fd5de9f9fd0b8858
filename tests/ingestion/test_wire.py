"""The one Trade encoder writes exactly what protobuf writes, for columnar batches and for records."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.venues.simulator.market import MarketSimulator, SimulatorConfig
from tradestream.ingest.columns import TradeColumns
from tradestream.ingest.trade import TakerSide, TradeRecord, trade_from_proto
from tradestream.ingest.wire import check_schema, encode_trades
from tradestream.v1 import market_pb2

INGEST_NS = 1_715_000_123_456_789_012


def reference(trades: TradeColumns | list[TradeRecord], ingest_ns: int | None, repaired: bool = False) -> list[bytes]:
    """protobuf's own serialization, one fresh message per trade: what the encoder must match."""
    out = []
    for trade in trades.to_records() if isinstance(trades, TradeColumns) else trades:
        message = market_pb2.Trade(exchange=trade.exchange, currency_pair=trade.currency_pair,
                                   trade_id=trade.trade_id, price=trade.price, size=trade.size,
                                   taker_side=trade.taker_side, repaired=repaired)
        message.event_time.FromNanoseconds(trade.event_time_ns)
        if ingest_ns is not None:
            message.ingest_time.FromNanoseconds(ingest_ns)
        out.append(message.SerializeToString())
    return out


def test_simulated_batches_encode_byte_for_byte_like_protobuf() -> None:
    simulator = MarketSimulator(SimulatorConfig(pairs=("BTC-USD", "DOGE-USD", "SHIB-USDC"), rate=100, seed=3,
                                                start_ns=1_715_000_000_123_456_789, duplicate_rate=0.1))
    for _ in range(5):
        columns = simulator.take_columns_until(2**62, 3_000)
        assert encode_trades(columns, INGEST_NS) == reference(columns, INGEST_NS)


def test_edge_values_encode_like_protobuf() -> None:
    rng = np.random.default_rng(5)
    n = 400
    numbers = np.array([1, 9, 10, 99, 100, 127, 128, 10**6, 10**12, 10**18 - 1] * 40, dtype=np.int64)
    event_ns = np.array([1_715_000_000 * 10**9, 1_715_000_000 * 10**9 + 1, 1_715_000_000 * 10**9 + 127,
                         1_715_000_000 * 10**9 + 128, 1_715_000_000 * 10**9 + 999_999_999] * 80, dtype=np.int64)
    columns = TradeColumns(
        exchange="simulator", pairs=("BTC-USD", "A-B", "VERYLONGNAME-USDC"), id_prefix="",
        pair_index=rng.integers(0, 3, n), number=numbers, price=rng.lognormal(0, 8, n),
        size=np.full(n, 1e-8), side=rng.integers(1, 3, n).astype(np.int8), event_ns=event_ns)
    for ingest_ns in (INGEST_NS, 1_715_000_000 * 10**9):  # ingest nanos 0 is omitted by proto3
        encoded = encode_trades(columns, ingest_ns)
        assert encoded == reference(columns, ingest_ns)
    decoded = market_pb2.Trade.FromString(encoded[3])
    assert trade_from_proto(decoded) == columns.to_records()[3]


def test_records_encode_like_protobuf_with_or_without_ingest_time() -> None:
    records = [TradeRecord("coinbase", "BTC-USD", "abc-123", 64_000.5, 0.25, TakerSide.SELL, 1_715_000_000 * 10**9),
               TradeRecord("coinbase", "ETH-USD", "9", 3_000.0, 1.0, TakerSide.UNSPECIFIED, 1_715_000_000_123_456_789),
               TradeRecord("kraken", "BTC-USD", "x" * 200, 1e-8, 1e9, TakerSide.BUY, 1)]
    for ingest_ns in (INGEST_NS, None):
        assert encode_trades(records, ingest_ns) == reference(records, ingest_ns)
    assert [trade_from_proto(market_pb2.Trade.FromString(b)) for b in encode_trades(records, None)] == records


def test_a_batch_encodes_alike_as_columns_or_as_records() -> None:
    columns = MarketSimulator(SimulatorConfig(pairs=("BTC-USD", "ETH-USD"), rate=50, seed=9,
                                              start_ns=1_715_000_000_000_000_000)).take_columns_until(2**62, 500)
    for ingest_ns in (INGEST_NS, None):
        assert encode_trades(columns, ingest_ns) == encode_trades(columns.to_records(), ingest_ns)


def test_repaired_batches_carry_the_flag_in_both_encoders() -> None:
    columns = MarketSimulator(SimulatorConfig(pairs=("BTC-USD", "ETH-USD"), rate=50, seed=4,
                                              start_ns=1_715_000_000_000_000_000)).take_columns_until(2**62, 300)
    for ingest_ns in (INGEST_NS, None):
        assert encode_trades(columns, ingest_ns, repaired=True) == reference(columns, ingest_ns, repaired=True)
        records = columns.to_records()
        assert encode_trades(records, ingest_ns, repaired=True) == reference(records, ingest_ns, repaired=True)
    assert market_pb2.Trade.FromString(encode_trades(records, None, repaired=True)[0]).repaired
    assert not market_pb2.Trade.FromString(encode_trades(records, None)[0]).repaired


def test_values_the_fast_encoder_cannot_write_are_refused() -> None:
    columns = MarketSimulator(SimulatorConfig(pairs=("BTC-USD",), rate=1, seed=1, start_ns=10**9)) \
        .take_columns_until(2**62, 10)
    with pytest.raises(ValueError, match="between 1978 and 3058"):
        encode_trades(columns, INGEST_NS)


def test_the_encoder_matches_the_current_trade_schema() -> None:
    check_schema()  # also runs at import; fails if tradestream.v1.Trade gains or changes a field
