"""The candle job on Flink (embedded mini-cluster) against the DuckDB SQL reference, in one run.

1. Throughput: N trades of P pairs are published to Kafka while the streaming job runs
   (after a warm-up slice that gets the JVM, Flink and the Python workers going); the
   figure is trades per second from the start of publishing until the last minute's
   candle is on `candles`. The same trades go through the DuckDB SQL reference (all six
   timeframes) in this process: the ratio of the two rates is the figure to compare
   across machines. The job's final candles are checked against the reference as well.
2. Delay: trades with live event times are published at a steady rate (default 2,000/s)
   for a few minutes; for every 1-minute candle the delay is the time from its window's
   end to the Kafka timestamp of its first emission on `candles` (p50, p99).

Targets on a 2-core machine: >= 20,000 trades/s sustained; p99 delay <= allowed lateness + 2 s.

    .venv/bin/python benchmarks/pipeline_throughput.py [--trades 400000] [--pairs 10]
        [--rate 2000] [--latency-seconds 240] [--skip-latency] [--parallelism 1] [--sdk-workers 1]

Starts its own Kafka broker (TRADESTREAM_KAFKA_PORT, default 39092) in a temporary home.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRADESTREAM_KAFKA_PORT", "39092")
os.environ.setdefault("TRADESTREAM_KAFKA_CONTROLLER_PORT", "39093")

from confluent_kafka import Producer  # noqa: E402

from streaming.candles.reader import CandleReader  # noqa: E402
from streaming.kafka.clients import KafkaClientConfig  # noqa: E402
from streaming.kafka.topics import ensure_topics  # noqa: E402
from tests.pipeline.jobs import CandleJobProcess  # noqa: E402
from tradestream.candles.codec import encode_trade  # noqa: E402
from tradestream.candles.model import TradeTick  # noqa: E402
from tradestream.candles.reference import diff_candles, reference_candles_for_ticks  # noqa: E402
from tradestream.runtime.kafka import LocalKafka  # noqa: E402
from tradestream.settings import KafkaSettings, PathSettings, PipelineSettings, Settings  # noqa: E402
from tradestream.timeframes import TIMEFRAMES  # noqa: E402

S = 1_000_000_000
M = 60 * S
LAG_NS = 2 * S  # the job's default watermark lag


def pair_names(count: int) -> list[str]:
    return [f"P{i:02d}-USD" for i in range(count)]


def historical_trades(count: int, pairs: list[str], events_per_s: float, seed: int = 3) -> list[TradeTick]:
    """Trades in event order, pairs interleaved, ``events_per_s`` of event time per second."""
    rng = random.Random(seed)
    prices = {p: rng.uniform(10, 1000) for p in pairs}
    start = 1_700_006_400 * S - 30 * M
    step = int(S / events_per_s)
    out = []
    for i in range(count):
        pair = pairs[i % len(pairs)]
        prices[pair] = round(prices[pair] * (1 + rng.gauss(0, 0.0005)), 4)
        size = round(rng.uniform(0.001, 2), 6)
        out.append(TradeTick("simulator", pair, str(i), start + i * step, prices[pair], size))
    return out


def producer(settings: Settings) -> Producer:
    return KafkaClientConfig.from_settings(settings.kafka).producer({
        "linger.ms": 20, "batch.num.messages": 10000, "queue.buffering.max.messages": 500000,
        "compression.type": "lz4"})


def publish(prod: Producer, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    for key, value in records:
        while True:
            try:
                prod.produce(topic, key=key, value=value)
                break
            except BufferError:
                prod.poll(0.05)
    prod.flush(120)


def topic_settings(base: Settings, tag: str, lateness_s: int) -> Settings:
    kafka = KafkaSettings(**{**base.kafka.model_dump(), "trades_topic": f"trades-{tag}",
                             "candles_topic": f"candles-{tag}", "signals_topic": f"signals-{tag}",
                             "dlq_topic": f"trades.dlq-{tag}"})
    settings = base.model_copy(update={"kafka": kafka, "pipeline": PipelineSettings(
        allowed_lateness_s=lateness_s, consumer_group=f"bench-{tag}")})
    ensure_topics(settings)
    return settings


def last_closed_minute_start(last_event_ns: int) -> int:
    watermark = last_event_ns - LAG_NS
    return watermark - watermark % M - M


def wait_for_minute(reader: CandleReader, pairs: list[str], minute_start: int, job: CandleJobProcess,
                    timeout: float) -> bool:
    def done(snapshot) -> bool:
        if not job.alive():
            raise SystemExit(f"the candle job died; log {job.log_path}:\n{job.tail()}")
        return all((p, "1m", minute_start) in snapshot.final for p in pairs)

    return reader.wait_for(done, timeout)


def throughput(base: Settings, args, log_dir: Path) -> dict:
    pairs = pair_names(args.pairs)
    trades = historical_trades(args.trades + args.warmup, pairs, events_per_s=300)
    warmup, burst = trades[:args.warmup], trades[args.warmup:]
    encoded = [(t.currency_pair.encode(), encode_trade(t)) for t in trades]
    settings = topic_settings(base, "throughput", lateness_s=30)
    prod = producer(settings)
    topic = settings.kafka.trades_topic
    publish(prod, topic, encoded[:args.warmup])
    job = CandleJobProcess(settings, "bench-throughput", log_dir, "--mode", "stream", "--fresh",
                           "--parallelism", str(args.parallelism), "--sdk-workers", str(args.sdk_workers)).start()
    try:
        with CandleReader(KafkaClientConfig.from_settings(settings.kafka), settings.kafka.candles_topic) as reader:
            started = time.monotonic()
            if not wait_for_minute(reader, pairs, last_closed_minute_start(warmup[-1].event_ns), job, 600):
                raise SystemExit(f"warm-up candles did not appear; log {job.log_path}")
            print(f"  job warmed up in {time.monotonic() - started:.0f} s; publishing {len(burst):,} trades",
                  flush=True)
            t0 = time.monotonic()
            publish(prod, topic, encoded[args.warmup:])
            published_s = time.monotonic() - t0
            if not wait_for_minute(reader, pairs, last_closed_minute_start(burst[-1].event_ns), job, 1800):
                raise SystemExit(f"the job did not catch up within 30 min; log {job.log_path}")
            elapsed = time.monotonic() - t0
            reader.poll(1.0)
            final = dict(reader.snapshot.final)
    finally:
        job.kill()
    until = last_closed_minute_start(burst[-1].event_ns) + M
    t1 = time.perf_counter()
    expected = reference_candles_for_ticks(trades, timeframes=TIMEFRAMES, until_ns=until, fill_cap_s=86400)
    duck_s = time.perf_counter() - t1
    got = [c for c in final.values() if c.window_end_ns <= until]
    problems = diff_candles(got, expected, limit=3)
    return {"flink_tps": len(burst) / elapsed, "burst": len(burst), "elapsed_s": elapsed,
            "publish_s": published_s, "duck_tps": len(trades) / duck_s, "duck_s": duck_s,
            "trades": len(trades), "candles": len(expected), "agree": not problems, "problems": problems}


def delay(base: Settings, args, log_dir: Path) -> dict:
    pairs = pair_names(args.latency_pairs)
    settings = topic_settings(base, "latency", lateness_s=30)
    prod = producer(settings)
    topic = settings.kafka.trades_topic
    rng = random.Random(5)
    prices = {p: rng.uniform(10, 1000) for p in pairs}
    job = CandleJobProcess(settings, "bench-latency", log_dir, "--mode", "stream", "--fresh", "--start", "latest",
                           "--parallelism", str(args.parallelism), "--sdk-workers", str(args.sdk_workers)).start()
    first_seen: dict[tuple, int] = {}
    measure_from_ns = None
    ids = 0
    try:
        with CandleReader(KafkaClientConfig.from_settings(settings.kafka), settings.kafka.candles_topic) as reader:
            tick = 0.02
            per_tick = args.rate * tick
            owed = 0.0
            next_at = time.monotonic()
            stop_at = None
            while stop_at is None or time.monotonic() < stop_at:
                owed += per_tick
                now_ns = time.time_ns()
                while owed >= 1:
                    owed -= 1
                    pair = pairs[ids % len(pairs)]
                    prices[pair] = round(prices[pair] * (1 + rng.gauss(0, 0.0005)), 4)
                    trade = TradeTick("simulator", pair, str(ids), now_ns, prices[pair], 0.5)
                    prod.produce(topic, key=pair.encode(), value=encode_trade(trade))
                    ids += 1
                prod.poll(0)
                reader.poll(timeout=0)
                if measure_from_ns is None and reader.snapshot.final:
                    # the job is up: measure windows that start a minute from now
                    measure_from_ns = time.time_ns() - time.time_ns() % M + M
                    stop_at = time.monotonic() + args.latency_seconds
                    print(f"  job is emitting; measuring windows from {measure_from_ns // S} for "
                          f"{args.latency_seconds} s at {args.rate} trades/s", flush=True)
                if not job.alive():
                    raise SystemExit(f"the candle job died; log {job.log_path}:\n{job.tail()}")
                next_at += tick
                time.sleep(max(0.0, next_at - time.monotonic()))
            prod.flush(30)
            time.sleep(10)
            reader.poll(1.0)
            for (key, revision), ts_ms in reader.snapshot.first_seen_ms.items():
                if revision == 0:
                    first_seen[key] = ts_ms
    finally:
        job.kill()
    delays = sorted((ts_ms * 1_000_000 - (key[2] + M)) / S for key, ts_ms in first_seen.items()
                    if key[1] == "1m" and measure_from_ns is not None and key[2] >= measure_from_ns)
    if not delays:
        raise SystemExit("no 1-minute candle was measured; run longer (--latency-seconds)")
    p99 = delays[min(len(delays) - 1, int(round(0.99 * (len(delays) - 1))))]
    return {"samples": len(delays), "p50": statistics.median(delays), "p99": p99, "max": delays[-1],
            "trades": ids}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=400_000, help="trades in the measured burst")
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2000.0, help="trades/s of the delay measurement")
    parser.add_argument("--latency-pairs", type=int, default=40)
    parser.add_argument("--latency-seconds", type=int, default=240)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--sdk-workers", type=int, default=1, help="Python SDK worker processes of the job")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tradestream-bench-"))
    base = Settings(paths=PathSettings(home=home))
    broker = LocalKafka(base)
    print(f"Kafka at {base.kafka.bootstrap} (home {home})", flush=True)
    broker.start()
    log_dir = home / "logs"
    try:
        if not args.skip_throughput:
            print("throughput:", flush=True)
            t = throughput(base, args, log_dir)
            print(f"  Flink job   {t['flink_tps']:>12,.0f} trades/s  ({t['burst']:,} trades in {t['elapsed_s']:.1f} s; "
                  f"publishing took {t['publish_s']:.1f} s)")
            print(f"  DuckDB SQL  {t['duck_tps']:>12,.0f} trades/s  ({t['trades']:,} trades, {t['candles']:,} candles "
                  f"of 6 timeframes in {t['duck_s']:.2f} s)")
            print(f"  ratio Flink/DuckDB: {t['flink_tps'] / t['duck_tps']:.4f}")
            print(f"  job candles equal the SQL reference: {'yes' if t['agree'] else 'NO'}")
            for problem in t["problems"]:
                print("   ", problem)
            verdict = "meets" if t["flink_tps"] >= 20_000 else "MISSES"
            print(f"  target >= 20,000 trades/s: {verdict}")
        if not args.skip_latency:
            print(f"delay from window end to candle at {args.rate:,.0f} trades/s:", flush=True)
            d = delay(base, args, log_dir)
            bound = 30 + 2
            print(f"  p50 {d['p50']:.2f} s   p99 {d['p99']:.2f} s   max {d['max']:.2f} s   "
                  f"({d['samples']} one-minute candles, {d['trades']:,} trades)")
            print(f"  target p99 <= allowed lateness + 2 s = {bound} s: {'meets' if d['p99'] <= bound else 'MISSES'}")
    finally:
        broker.stop()
    print(f"job logs: {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
