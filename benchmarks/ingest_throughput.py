"""Dry-mode ingestion throughput against a bare confluent-kafka producer, same broker, same run.

Dry mode here is the real path end to end: the market simulator (unpaced), the
ingestion service (sink, counters), protobuf encoding of each ``Trade``, and the
idempotent ``acks=all`` compressed producer with delivery reports counted -- timed from
the first trade to the last acknowledgement. The baseline is a bare producer with the
same librdkafka settings sending the *same payloads pre-serialized* (same keys, same
sizes, same headers) in a tight loop, no callbacks, also timed to the last ack.

Rounds alternate (bare, dry, bare, dry, ...) on fresh topics so drift on a shared
machine hits both; the median of each is reported. Target: dry >= 0.7 x bare.

Usage: python benchmarks/ingest_throughput.py [--trades N] [--rounds R]
Uses the broker at TRADESTREAM_KAFKA_* if one answers; otherwise starts a local one
(on TRADESTREAM_KAFKA_PORT) in a temporary home and stops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka.admin import NewTopic

from streaming.ingestion.metrics import IngestCounters
from streaming.ingestion.publisher import TRADE_HEADERS, KafkaTradePublisher, producer_config
from streaming.ingestion.service import IngestionService
from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.topics import require_reachable
from streaming.venues.simulator.adapter import SimulatorAdapter, simulator_config
from streaming.venues.simulator.market import MarketSimulator
from tradestream.ingest.wire import encode_trades
from tradestream.runtime.kafka import KafkaRuntimeError, LocalKafka
from tradestream.settings import IngestionSettings, PathSettings, Settings

TARGET = 0.7
START_NS = 1_715_000_000_000_000_000
_QUIET = logging.getLogger("benchmark.rdkafka")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


def make_topic(settings: Settings, name: str) -> Settings:
    admin = KafkaClientConfig.from_settings(settings.kafka).admin({"logger": _QUIET})
    for future in admin.create_topics([NewTopic(name, settings.kafka.topic_partitions, 1)]).values():
        future.result(30)
    return settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"trades_topic": name})})


def drop_topics(settings: Settings, names: list[str]) -> None:
    admin = KafkaClientConfig.from_settings(settings.kafka).admin({"logger": _QUIET})
    for future in admin.delete_topics(names).values():
        try:
            future.result(30)
        except Exception as exc:  # noqa: BLE001 - best-effort cleanup, reported not raised
            print(f"  (could not delete a benchmark topic: {exc})", file=sys.stderr)


def run_dry(settings: Settings, trades: int) -> float:
    """Trades per second of the full dry-mode path, first trade to last acknowledgement."""
    ingestion = settings.ingestion
    adapter = SimulatorAdapter(simulator_config(ingestion, ingestion.products, start_ns=START_NS),
                               speed=float("inf"), max_trades=trades)
    counters = IngestCounters()
    publisher = KafkaTradePublisher(settings.kafka, ingestion, counters)
    service = IngestionService(adapter, publisher, counters, log_every_s=3600)
    started = time.perf_counter()
    report = asyncio.run(service.run())
    elapsed = time.perf_counter() - started
    if not report.clean or counters.published != trades:
        raise SystemExit(f"dry run incomplete: published {counters.published} of {trades}: {report}")
    return trades / elapsed


def bare_payloads(settings: Settings, trades: int) -> list[tuple[str, bytes]]:
    """The same trades dry mode sends, serialized up front."""
    ingestion = settings.ingestion
    simulator = MarketSimulator(simulator_config(ingestion, ingestion.products, start_ns=START_NS))
    batch = simulator.take(trades)
    return list(zip((t.currency_pair for t in batch), encode_trades(batch, time.time_ns()), strict=True))


def run_bare(settings: Settings, payloads: list[tuple[str, bytes]]) -> float:
    kafka = KafkaClientConfig.from_settings(settings.kafka)
    producer = kafka.producer(producer_config(settings.ingestion, "bench-bare"))
    produce, poll, topic, headers = producer.produce, producer.poll, settings.kafka.trades_topic, TRADE_HEADERS
    started = time.perf_counter()
    for key, value in payloads:
        while True:
            try:
                produce(topic, value, key, headers=headers)
                break
            except BufferError:
                poll(0.05)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    if remaining:
        raise SystemExit(f"bare producer left {remaining} messages unacknowledged")
    return len(payloads) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    settings = Settings()
    broker = None
    try:
        require_reachable(settings, timeout=3)
    except KafkaRuntimeError:
        home = Path(tempfile.mkdtemp(prefix="tradestream-bench-"))
        settings = Settings(paths=PathSettings(home=home))
        broker = LocalKafka(settings)
        print(f"starting a local broker at {settings.kafka.bootstrap} for the benchmark", file=sys.stderr)
        broker.start()
    # The benchmark measures the publishing path, with the clean feed (no injected repeats).
    ingestion = IngestionSettings(out_of_order_rate=0, late_rate=0, duplicate_rate=0)
    settings = settings.model_copy(update={"ingestion": ingestion})
    created: list[str] = []
    try:
        payloads = bare_payloads(settings, args.trades)
        size = sum(len(v) for _, v in payloads) / len(payloads)
        print(f"broker {settings.kafka.bootstrap}; {args.trades:,} trades per run, {size:.0f} B mean value, "
              f"{ingestion.compression}, idempotent, acks=all, linger {ingestion.linger_ms:g} ms")
        bare_rates, dry_rates = [], []
        for round_number in range(1, args.rounds + 1):
            bare_topic = f"bench-bare-{uuid.uuid4().hex[:8]}"
            dry_topic = f"bench-dry-{uuid.uuid4().hex[:8]}"
            created += [bare_topic, dry_topic]
            bare_rates.append(run_bare(make_topic(settings, bare_topic), payloads))
            dry_rates.append(run_dry(make_topic(settings, dry_topic), args.trades))
            print(f"round {round_number}: bare {bare_rates[-1]:,.0f} trades/s, dry {dry_rates[-1]:,.0f} trades/s, "
                  f"ratio {dry_rates[-1] / bare_rates[-1]:.2f}")
        bare, dry = statistics.median(bare_rates), statistics.median(dry_rates)
        ratio = dry / bare
        print(f"median: dry mode {dry:,.0f} trades/s vs bare producer {bare:,.0f} msgs/s -> ratio {ratio:.2f} "
              f"(target >= {TARGET}) {'OK' if ratio >= TARGET else 'BELOW TARGET'}")
        return 0
    finally:
        if created:
            drop_topics(settings, created)
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
