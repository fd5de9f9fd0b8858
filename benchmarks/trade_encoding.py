"""The Trade encoder's two paths: numpy over a columnar batch vs protobuf over records, by batch size.

``tradestream.ingest.wire.encode_trades`` writes a columnar batch (dry mode) with numpy and
records (exchanges, replay) with protobuf's serializer. This measures why: numpy wins on
large batches, and its fixed cost per call loses badly on the handful of trades an
exchange message holds. Encoding only, no Kafka; best of three runs.

Usage: python benchmarks/trade_encoding.py [--trades N]
"""

from __future__ import annotations

import argparse
import time

from streaming.venues.simulator.market import MarketSimulator, SimulatorConfig
from tradestream.ingest.wire import encode_trades


def rate(encode, count: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        encode()
        best = min(best, time.perf_counter() - started)
    return count / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=100_000)
    args = parser.parse_args()
    simulator = MarketSimulator(SimulatorConfig(pairs=("BTC-USD", "ETH-USD", "SOL-USD"), rate=5000, seed=3,
                                                start_ns=1_715_000_000_000_000_000))
    columns = simulator.take_columns_until(2**62, args.trades)
    records = columns.to_records()
    ingest_ns = time.time_ns()
    print(f"{len(columns):,} trades, trades/s by batch size (columns = numpy path, records = protobuf path)")
    for size in (1, 5, 50, 500, len(columns)):
        count = min(len(columns), max(size, 5_000))
        column_batches = [columns.take(i, i + size) for i in range(0, count, size)]
        record_batches = [records[i:i + size] for i in range(0, count, size)]
        by_columns = rate(lambda b=column_batches: [encode_trades(batch, ingest_ns) for batch in b], count)
        by_records = rate(lambda b=record_batches: [encode_trades(batch, ingest_ns) for batch in b], count)
        print(f"  batch {size:>7,}: columns {by_columns:>11,.0f}  records {by_records:>11,.0f}  "
              f"({by_columns / by_records:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
