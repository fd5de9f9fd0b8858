"""Replay mode keeps event time in step with the wall clock at the chosen speed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from streaming.venues.replay.adapter import ReplayAdapter
from tests.ingestion.sinks import run_for
from tradestream.ingest.validation import format_timestamp_ns


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
