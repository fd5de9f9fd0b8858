"""An adapter's deliveries, collected with their wall-clock times (a real sink, minus Kafka)."""

from __future__ import annotations

import asyncio
import time

from tradestream.ingest.columns import TradeColumns


class CollectingSink:
    """Records what an adapter delivers and when (a real sink, minus Kafka)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[float, list]] = []
        self.rejections: list = []

    async def trades(self, trades, ingest_time_ns=None) -> None:
        records = trades.to_records() if isinstance(trades, TradeColumns) else list(trades)
        self.deliveries.append((time.monotonic(), records))

    async def rejected(self, rejection) -> None:
        self.rejections.append(rejection)

    def frame_received(self) -> None: ...
    def reconnecting(self) -> None: ...
    def sequence_gap(self, missing_frames: int) -> None: ...


async def run_for(adapter, seconds: float) -> tuple[float, CollectingSink]:
    sink, stop = CollectingSink(), asyncio.Event()
    started = time.monotonic()
    task = asyncio.create_task(adapter.run(sink, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait_for(task, 5)
    return started, sink
