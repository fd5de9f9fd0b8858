"""Dry and replay modes keep event time in step with the wall clock at the chosen speed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from streaming.ingestion.replay import ReplayAdapter
from streaming.ingestion.simulator import SimulatorAdapter
from tradestream.ingest.columns import TradeColumns
from tradestream.ingest.simulator import SimulatorConfig
from tradestream.ingest.validation import format_timestamp_ns


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


def test_simulator_runs_speed_times_faster_than_real_time_and_never_early() -> None:
    start_ns = time.time_ns()
    config = SimulatorConfig(pairs=("BTC-USD", "ETH-USD"), rate=50, seed=1, start_ns=start_ns, intraday_amplitude=0)
    started, sink = asyncio.run(run_for(SimulatorAdapter(config, speed=20), 1.5))
    trades = [t for _, batch in sink.deliveries for t in batch]
    span_s = (trades[-1].event_time_ns - start_ns) / 1e9
    assert 20 * 1.5 * 0.8 < span_s <= 20 * 1.5 * 1.05
    assert 50 * span_s * 0.8 < len(trades) < 50 * span_s * 1.2
    for delivered_at, batch in sink.deliveries:
        due_s = (max(t.event_time_ns for t in batch) - start_ns) / 1e9 / 20
        assert delivered_at - started >= due_s - 0.01, "a trade was delivered before its time"
    assert len(sink.deliveries) > 10, "real-time pacing delivers in many small batches"


def test_replay_spreads_the_recording_over_its_span_divided_by_speed(tmp_path: Path) -> None:
    t0 = 1_715_000_000 * 10**9
    lines = ["currency_pair,trade_id,price,size,side,event_time"]
    lines += [f"BTC-USD,{i},{64000 + i},0.1,BUY,{format_timestamp_ns(t0 + i * 100_000_000)}" for i in range(21)]
    path = tmp_path / "two-seconds.csv"
    path.write_text("\n".join(lines) + "\n")
    started, sink = asyncio.run(run_for(ReplayAdapter(path, speed=4.0), 1.2))
    trades = [t for _, batch in sink.deliveries for t in batch]
    assert [t.trade_id for t in trades] == [str(i) for i in range(21)]
    last_delivery = sink.deliveries[-1][0] - started
    assert 0.45 <= last_delivery <= 0.8, "2 s of recording at 4x takes about half a second"
