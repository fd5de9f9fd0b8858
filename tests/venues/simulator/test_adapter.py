"""Dry mode keeps event time in step with the wall clock at the chosen speed."""

from __future__ import annotations

import asyncio
import time

from streaming.venues.simulator.adapter import SimulatorAdapter
from streaming.venues.simulator.market import SimulatorConfig
from tests.ingestion.sinks import run_for


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
