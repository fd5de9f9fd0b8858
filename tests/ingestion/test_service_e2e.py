"""The ingestion service on a real broker: backpressure, pluggable adapters, replay, metrics."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from streaming.ingestion.adapter import ExchangeAdapter, TradeSink
from streaming.ingestion.metrics import IngestCounters
from streaming.ingestion.publisher import KafkaTradePublisher
from streaming.ingestion.service import IngestionService, run_ingestion
from streaming.venues.simulator.adapter import SimulatorAdapter
from streaming.venues.simulator.market import SimulatorConfig
from tests.ingestion.kafka_io import decode_dead_letters, decode_trades, read_topic
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.validation import Rejection, RejectReason, format_timestamp_ns
from tradestream.settings import IngestionSettings, Settings

pytestmark = pytest.mark.e2e
NOW_NS = time.time_ns()


def with_ingestion(settings: Settings, **fields) -> Settings:
    return settings.model_copy(update={"ingestion": IngestionSettings(**fields)})


def service_for(settings: Settings, adapter: ExchangeAdapter, **options) -> IngestionService:
    counters = IngestCounters()
    publisher = KafkaTradePublisher(settings.kafka, settings.ingestion, counters)
    return IngestionService(adapter, publisher, counters, **options)


def test_a_full_producer_queue_slows_the_source_instead_of_dropping_trades(topics: Settings) -> None:
    settings = with_ingestion(topics, producer_queue_max_messages=1000, linger_ms=20)
    config = SimulatorConfig(pairs=("BTC-USD", "ETH-USD", "SOL-USD"), rate=100, seed=2, start_ns=NOW_NS)
    adapter = SimulatorAdapter(config, speed=float("inf"), batch_size=5_000, max_trades=60_000)
    report = asyncio.run(service_for(settings, adapter).run())
    assert report.clean, report
    assert report.counters.backpressure_waits > 0, "the 1000-message queue must have filled up"
    assert report.counters.published == 60_000
    trades = decode_trades(read_topic(settings, settings.kafka.trades_topic, timeout_s=120))
    assert len(trades) == 60_000 == len({t.identity for t in trades})


class TapeExchange(ExchangeAdapter):
    """A stand-in for a second exchange: the service takes it without any change."""

    name = "tape"

    async def run(self, sink: TradeSink, stop: asyncio.Event) -> None:
        first = [TradeRecord("tape", "BTC-USD", str(i), 60_000.0 + i, 0.5, TakerSide.BUY, NOW_NS + i) for i in range(5)]
        await sink.trades(first)
        await sink.rejected(Rejection(RejectReason.NON_FINITE, "price='NaN' is not a finite number", b'{"p":"NaN"}',
                                      "BTC-USD"))
        sink.reconnecting()
        await sink.trades(first[3:] + [first[4]._replace(trade_id="5")])   # a replayed overlap after reconnect


def test_a_new_exchange_plugs_in_through_the_adapter_interface(topics: Settings) -> None:
    report = asyncio.run(service_for(topics, TapeExchange()).run())
    c = report.counters
    assert (c.received, c.duplicates_dropped, c.published, c.reconnects) == (8, 2, 6, 1)
    assert dict(c.rejected) == {"non_finite": 1} and c.dead_lettered == 1
    trades = decode_trades(read_topic(topics, topics.kafka.trades_topic))
    assert sorted(t.trade_id for t in trades) == ["0", "1", "2", "3", "4", "5"]
    assert {t.exchange for t in trades} == {"tape"}
    letters = decode_dead_letters(read_topic(topics, topics.kafka.dlq_topic))
    assert [(dl.source, dl.reason, dl.payload) for dl in letters] == [("ingest:tape", "non_finite", b'{"p":"NaN"}')]
    assert letters[0].rejected_at.seconds > 0 and letters[0].original_offset == -1


def test_replay_publishes_a_recording_in_event_time_order(topics: Settings, tmp_path: Path) -> None:
    lines = ["currency_pair,trade_id,price,size,side,event_time"]
    order = [5, 1, 4, 2, 3, 0, 9, 7, 8, 6]
    for i in order:
        pair = "BTC-USD" if i % 2 else "ETH-USD"
        lines.append(f"{pair},{i},{100 + i},1,SELL,{format_timestamp_ns(NOW_NS - 10**12 + i * 10**6)}")
    lines.append(f"BTC-USD,99,0,1,SELL,{format_timestamp_ns(NOW_NS)}")
    path = tmp_path / "recording.csv"
    path.write_text("\n".join(lines) + "\n")
    settings = with_ingestion(topics, mode="replay", replay_file=path, speed=float("inf"))
    report = run_ingestion(settings, handle_signals=False)
    assert report.clean and report.stopped_by == "source finished"
    assert report.counters.published == 10 and dict(report.counters.rejected) == {"non_positive_price": 1}
    records = read_topic(settings, settings.kafka.trades_topic)
    for pair in ("BTC-USD", "ETH-USD"):
        in_kafka = [t for r, t in zip(records, decode_trades(records), strict=True) if r.key == pair]
        assert [t.event_time_ns for t in in_kafka] == sorted(t.event_time_ns for t in in_kafka)
        assert len(in_kafka) == 5 and {t.exchange for t in in_kafka} == {"replay"}
    letters = decode_dead_letters(read_topic(settings, settings.kafka.dlq_topic))
    assert [dl.reason for dl in letters] == ["non_positive_price"] and b'"99"' in letters[0].payload


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_counters_are_served_to_prometheus_and_summarised_in_the_log(topics: Settings, caplog) -> None:
    port = _free_port()
    config = SimulatorConfig(pairs=("BTC-USD",), rate=200, seed=4, start_ns=NOW_NS)
    service = service_for(topics, SimulatorAdapter(config, speed=1.0), metrics_port=port, log_every_s=0.3)

    async def scrape_mid_run() -> str:
        run = asyncio.create_task(service.run())
        await asyncio.sleep(1.2)
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read())
        service.request_stop("test")
        await run
        return body.decode()

    with caplog.at_level(logging.INFO, logger="streaming.ingestion.service"):
        text = asyncio.run(scrape_mid_run())
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("tradestream_ingest_")}
    received = samples['tradestream_ingest_trades_received_total{source="ingest:simulator"}']
    assert 50 < received <= service.counters.received
    assert 'tradestream_ingest_reconnects_total{source="ingest:simulator"}' in samples
    assert 'tradestream_ingest_sequence_gaps_total{source="ingest:simulator"}' in samples
    assert 'tradestream_ingest_duplicates_dropped_total{source="ingest:simulator"}' in samples
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("received=")]
    assert len(summaries) >= 3, "a summary line every 0.3 s"
    assert Counter(word.split("=")[0] for word in summaries[-1].split() if "=" in word).keys() >= {
        "received", "published", "duplicates_dropped", "rejected", "reconnects", "sequence_gaps"}
