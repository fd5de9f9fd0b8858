"""Latency of the live strategy engine: a 1m candle close for 10 pairs -> all its signals on `signals`.

What it runs: the real job (`tradestream pipeline signals`, default strategy set = 60
strategies with default parameters, parallelism 2 with process workers, embedded Flink)
against a real broker. It first publishes enough 1m history for every pair (the default
set's longest window, 5,510 candles) so the engine seeds its windows from the topic, then
publishes a candle close for all 10 pairs every ``--interval`` seconds. Latency of a close
= from just before its 10 candles are produced to the arrival (at a consumer polling
`signals`) of the last signal the close produces. Which signals a close produces is known
afterwards by running the same engine in this process over the same records (the run is
also checked against it: every signal, nothing else, once). Closes without any signal
have no latency and are counted separately; the first closes (seeding, warm-up) are
excluded.

In the same run, before the job starts: the per-candle cost of evaluating all 60
strategies on one pair's window with the shared indicator cache and without it
(``evaluate_last_bar(share_cache=False)``), which bounds what a close costs: 10 pairs x
that cost / 2 parallel workers.

    TRADESTREAM_KAFKA_PORT=59092 TRADESTREAM_KAFKA_CONTROLLER_PORT=59093 \\
        .venv/bin/python benchmarks/signal_latency.py [--closes 30] [--interval 15]

Uses the broker at the configured port when one answers, else starts one in a temporary
home (and stops it). Target: p99 <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import psutil  # noqa: E402
from confluent_kafka import TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

from streaming.kafka.clients import KafkaClientConfig  # noqa: E402
from streaming.signals.decoding import decode_candle  # noqa: E402
from streaming.signals.engine import SignalEngine  # noqa: E402
from streaming.signals.history import KafkaCandleHistory  # noqa: E402
from streaming.signals.live_set import LiveSetSpec  # noqa: E402
from streaming.signals.state import MemoryKeyState  # noqa: E402
from tradestream.candles.codec import candle_key, candle_to_proto  # noqa: E402
from tradestream.candles.model import CandleRecord  # noqa: E402
from tradestream.runtime.kafka import LocalKafka  # noqa: E402
from tradestream.settings import PathSettings, Settings  # noqa: E402
from tradestream.strategies import validate_candles  # noqa: E402
from tradestream.strategies.config import ActiveStrategySet  # noqa: E402
from tradestream.strategies.live import evaluate_last_bar, frame_bucket  # noqa: E402
from tradestream.strategies.synthetic import synthetic_candles  # noqa: E402
from tradestream.timeframes import MINUTE_NS, NS_PER_MS  # noqa: E402
from tradestream.v1 import strategy_pb2  # noqa: E402

PAIRS = ("BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "DOGE-USD", "ADA-USD", "AVAX-USD", "LINK-USD", "DOT-USD",
         "LTC-USD")
WARM_UP_CLOSES = 2
TARGET_P99_S = 1.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def candle_bytes(pair: str, at: pd.Timestamp, row) -> bytes:
    record = CandleRecord(currency_pair=pair, timeframe="1m", window_start_ns=at.value,
                          window_end_ns=at.value + MINUTE_NS, open=row.open, high=row.high, low=row.low,
                          close=row.close, volume=row.volume, vwap=row.vwap, trade_count=int(row.trade_count),
                          filled=False, revision=0)
    return candle_to_proto(record, emitted_at_ns=time.time_ns()).SerializeToString()


# ---------------------------------------------------------------- evaluation cost, with and without the cache


def evaluation_cost(market: pd.DataFrame, candles: int, rounds: int) -> dict[str, float]:
    active = ActiveStrategySet.default()
    entries = active.for_stream("BTC-USD", "1m")
    window = active.window_for("BTC-USD", "1m")
    evaluate_last_bar(validate_candles(market.iloc[:window]), entries, complete=False)  # imports, numba cache
    timings: dict[str, list[float]] = {"shared": [], "unshared": []}
    start = window
    for _ in range(rounds):
        frames = [validate_candles(market.iloc[start + i - window:start + i]) for i in range(candles)]
        for mode, share in (("shared", True), ("unshared", False)):
            cpu = time.process_time()
            results = [evaluate_last_bar(frame, entries, complete=False, share_cache=share)[0] for frame in frames]
            timings[mode].append((time.process_time() - cpu) / candles * 1000)
            if mode == "shared":
                reference = results
            elif results != reference:
                raise SystemExit("evaluation with and without the shared cache disagree")
        start += candles
    return {"strategies": len(entries), "window": window, "shared_ms": statistics.median(timings["shared"]),
            "unshared_ms": statistics.median(timings["unshared"])}


# ---------------------------------------------------------------- the run


class SignalCollector(threading.Thread):
    """Consumes `signals` from the start, recording each record's arrival time."""

    def __init__(self, kafka: KafkaClientConfig, topic: str):
        super().__init__(daemon=True)
        self.arrivals: list[tuple[float, strategy_pb2.Signal]] = []
        self._stopping = threading.Event()
        self._consumer = kafka.consumer(f"bench-{uuid.uuid4()}", {"enable.auto.commit": False, "fetch.wait.max.ms": 5,
                                                                 "enable.partition.eof": False})
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, 0) for p in partitions])

    def run(self) -> None:
        while not self._stopping.is_set():
            for message in self._consumer.consume(num_messages=1000, timeout=0.05):
                if message.error() is None:
                    self.arrivals.append((time.monotonic(), strategy_pb2.Signal.FromString(message.value())))
        self._consumer.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)


def broker(settings: Settings, home: Path) -> tuple[Settings, LocalKafka | None]:
    """The broker at the configured address, or one started in ``home``."""
    try:
        socket.create_connection((settings.kafka.host, settings.kafka.port), timeout=2).close()
        if settings.kafka.bootstrap_servers is None:
            return settings, None
    except OSError:
        pass
    if settings.kafka.bootstrap_servers is not None:
        return settings, None
    own = Settings(paths=PathSettings(home=home))
    local = LocalKafka(own)
    local.start()
    return own, local


def worker_cpu_seconds(job: subprocess.Popen) -> float:
    try:
        workers = [p for p in psutil.Process(job.pid).children(recursive=True)
                   if "SdkHarness" in " ".join(p.cmdline())]
        return sum(p.cpu_times().user + p.cpu_times().system for p in workers)
    except psutil.Error:
        return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--closes", type=int, default=30, help="measured candle closes")
    parser.add_argument("--interval", type=float, default=15.0,
                        help="seconds between closes (real closes are 60 s apart; shorter than a close's processing "
                             "time measures queueing, not latency)")
    parser.add_argument("--eval-candles", type=int, default=4, help="candles per round of the cache comparison")
    parser.add_argument("--eval-rounds", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=None, help="the job's parallelism (default: the job's)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    home = Path(tempfile.mkdtemp(prefix="signal-latency-"))
    settings, local = broker(Settings(), home)
    try:
        ok = measure(args, settings, home, load_before)
    finally:
        if local is not None:
            local.stop()
    if ok:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"kept {home} (job log, broker data) for inspection")
    return 0 if ok else 1


def measure(args: argparse.Namespace, settings: Settings, home: Path, load_before: tuple[float, ...]) -> bool:
    """Runs the job and the closes; prints the figures; True when every signal came once."""
    bootstrap = settings.kafka.bootstrap
    kafka = KafkaClientConfig.from_settings(settings.kafka)
    active = ActiveStrategySet.default()
    window = active.window_for("BTC-USD", "1m")
    shards = {frame_bucket(entry.window) for entry in active}  # keys with strategies per stream
    total_closes = WARM_UP_CLOSES + args.closes
    history_bars = window + 64
    start = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=history_bars)).floor("min")
    markets = {pair: synthetic_candles(days=(history_bars + total_closes + 1) / 1440, seed=100 + i,
                                       start=start.isoformat()).iloc[:history_bars + total_closes]
               for i, pair in enumerate(PAIRS)}

    print(f"evaluation cost of {len(active.for_stream('BTC-USD', '1m'))} strategies per candle "
          f"(CPU time, window {window} candles) ...", flush=True)
    cost = evaluation_cost(markets["BTC-USD"], args.eval_candles, args.eval_rounds)

    suffix = uuid.uuid4().hex[:8]
    topics = {"candles": f"bench-candles-{suffix}", "signals": f"bench-signals-{suffix}",
              "dlq": f"bench-dlq-{suffix}"}
    admin = kafka.admin()
    for future in admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=1)
                                       for t in topics.values()]).values():
        future.result(30)
    producer = kafka.producer({"enable.idempotence": True, "linger.ms": 0})
    print(f"publishing {history_bars} candles of history for {len(PAIRS)} pairs ...", flush=True)
    for pair, market in markets.items():
        key = candle_key(pair, "1m")
        for at, row in zip(market.index[:history_bars], market.iloc[:history_bars].itertuples(), strict=True):
            producer.produce(topics["candles"], key=key, value=candle_bytes(pair, at, row),
                             timestamp=(at.value + MINUTE_NS) // NS_PER_MS)  # emitted when the minute closed
        producer.poll(0)
    producer.flush(60)

    log_path = home / "signals-job.log"
    env = {**os.environ, "TRADESTREAM_HOME": str(home), "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "TRADESTREAM_KAFKA_CANDLES_TOPIC": topics["candles"], "TRADESTREAM_KAFKA_SIGNALS_TOPIC": topics["signals"],
           "TRADESTREAM_KAFKA_DLQ_TOPIC": topics["dlq"]}
    argv = [sys.executable, "-m", "tradestream_cli.main", "pipeline", "signals", "--start", "latest", "--fresh",
            "--job-name", f"signal-latency-{suffix}"]
    if args.parallelism is not None:
        argv += ["--parallelism", str(args.parallelism)]
    collector = SignalCollector(kafka, topics["signals"])
    collector.start()
    with log_path.open("wb") as out:
        job = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    offsets: dict[tuple[str, int], tuple[int, int]] = {}
    published: list[float] = []
    published_wall: list[float] = []
    try:
        print(f"started the job (log {log_path}) ...", flush=True)
        deadline = time.monotonic() + 600
        while "Job state changed to RUNNING" not in log_path.read_text(errors="replace"):
            if job.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the job did not start; see {log_path}")
            time.sleep(1)
        for close in range(total_closes):
            if close == WARM_UP_CLOSES:  # the first close starts the workers and seeds every window: let it settle
                deadline = time.monotonic() + 900
                while log_path.read_text(errors="replace").count("seeded ") < len(PAIRS) * len(shards):
                    if job.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"the job did not seed its windows; see {log_path}")
                    time.sleep(1)
                time.sleep(args.interval)
                idle_cpu, idle_from = worker_cpu_seconds(job), time.monotonic()
                time.sleep(args.interval)  # no candles: what polling Kafka and running Flink bundles costs
                cpu_before, measured_from = worker_cpu_seconds(job), time.monotonic()
                idle_rate = (cpu_before - idle_cpu) / (measured_from - idle_from)
            bar = history_bars + close
            t0, wall0 = time.monotonic(), time.time()
            for pair, market in markets.items():
                at = market.index[bar]
                row = next(market.iloc[bar:bar + 1].itertuples())

                def delivered(error, message, pair=pair, bar=bar):
                    if error is None:
                        offsets[(pair, bar)] = (message.partition(), message.offset())

                producer.produce(topics["candles"], key=candle_key(pair, "1m"), value=candle_bytes(pair, at, row),
                                 on_delivery=delivered)
            producer.flush(10)
            published.append(t0)
            published_wall.append(wall0)
            print(f"  close {close + 1}/{total_closes} published", end="\r", flush=True)
            time.sleep(max(0.0, t0 + args.interval - time.monotonic()))
        time.sleep(max(10.0, args.interval * 2))
        cpu_used = worker_cpu_seconds(job) - cpu_before
        measured_s = time.monotonic() - measured_from
    finally:
        job.send_signal(signal.SIGTERM)
        try:
            job.wait(90)
        except subprocess.TimeoutExpired:
            job.kill()
        collector.stop()
    print()

    # What each close should produce: the same engine over the same records, in this process.
    print("computing the reference signals with the engine in-process ...", flush=True)
    engine = SignalEngine(LiveSetSpec(history_hours=settings.kafka.retention_hours),
                          history=KafkaCandleHistory(kafka, topics["candles"]))
    states: dict[str, MemoryKeyState] = {}
    expected: dict[str, int] = {}  # signal_id -> close
    for close in range(total_closes):
        bar = history_bars + close
        for pair, market in markets.items():
            at = market.index[bar]
            partition, offset = offsets[(pair, bar)]
            update = decode_candle(candle_bytes(pair, at, next(market.iloc[bar:bar + 1].itertuples())),
                                   candle_key(pair, "1m"), partition, offset)
            for live in engine.on_update(update, states.setdefault(update.key, MemoryKeyState())):
                expected[live.signal_id] = close

    arrivals: dict[str, float] = {}
    emitted: dict[str, float] = {}  # wall time the engine evaluated the signal (Signal.emitted_at)
    duplicates = 0
    for arrived, message in collector.arrivals:
        if message.signal_id in arrivals:
            duplicates += 1
        arrivals.setdefault(message.signal_id, arrived)
        emitted.setdefault(message.signal_id, message.emitted_at.ToNanoseconds() / 1e9)
    missing = set(expected) - set(arrivals)
    extra = set(arrivals) - set(expected)
    latencies, silent = [], 0
    first_evaluated, last_evaluated = [], []  # per close: first and last signal evaluated, after publishing
    for close in range(WARM_UP_CLOSES, total_closes):
        ids = [sid for sid, c in expected.items() if c == close]
        if not ids:
            silent += 1
            continue
        if any(sid not in arrivals for sid in ids):
            continue
        latencies.append(max(arrivals[sid] for sid in ids) - published[close])
        first_evaluated.append(min(emitted[sid] for sid in ids) - published_wall[close])
        last_evaluated.append(max(emitted[sid] for sid in ids) - published_wall[close])

    print(f"\nmachine: {os.cpu_count()} cores, load average {load_before[0]:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")
    shared, unshared = cost["shared_ms"], cost["unshared_ms"]
    print(f"evaluation of {cost['strategies']} strategies per candle and pair (CPU): {shared:.1f} ms with the shared "
          f"indicator cache, {unshared:.1f} ms without -> the cache is {unshared / shared:.2f}x faster")
    bound = len(PAIRS) * shared / 1000 / 2
    print(f"compute bound of a close: {len(PAIRS)} pairs x {shared:.0f} ms / 2 workers = {bound:.2f} s")
    per_close = (cpu_used - idle_rate * measured_s) / args.closes
    print(f"engine workers used {cpu_used:.1f} CPU s over {measured_s:.0f} s of measurement; idle they use "
          f"{idle_rate:.3f} CPU s per s (polling, bundles); net of that {per_close:.2f} CPU s per close = "
          f"{per_close / len(PAIRS) * 1000:.0f} ms per candle and pair (evaluation + state + Beam)")
    print(f"signals: {len(expected)} expected, {len(arrivals)} received, {len(missing)} missing, {len(extra)} "
          f"unexpected, {duplicates} duplicates")
    if latencies:
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        print(f"latency over {len(latencies)} closes with signals ({silent} closes had none; {WARM_UP_CLOSES} warm-up "
              f"closes excluded): p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(latencies):.2f} s")
        print(f"p99 / target ({TARGET_P99_S:.0f} s): {p99 / TARGET_P99_S:.2f}; p99 / compute bound: {p99 / bound:.2f}")
        print("per close (s): " + " ".join(f"{latency:.2f}" for latency in latencies))
        print(f"where the time goes (p50 over closes): first signal evaluated "
              f"{statistics.median(first_evaluated):.2f} s after publishing, last evaluated "
              f"{statistics.median(last_evaluated):.2f} s, on `signals` {statistics.median(latencies):.2f} s")
        if max(latencies) > 0.8 * args.interval:
            print(f"warning: closes took up to {max(latencies):.1f} s, close to the {args.interval:.0f} s interval: "
                  "later closes may have queued behind earlier ones; raise --interval")
    seeded = re.findall(r"\[worker (\d+)\] \S+: seeded (\S+) from the candles topic",
                        log_path.read_text(errors="replace"))
    per_worker = Counter(worker for worker, _ in seeded)
    print(f"windows seeded from the topic: {len(seeded)} keys ({len(PAIRS)} pairs x {len(shards)} frame buckets); "
          "keys per worker process (ShardRouter placement): "
          + ", ".join(str(n) for n in sorted(per_worker.values(), reverse=True)))
    return bool(not missing and not extra and not duplicates and latencies)


if __name__ == "__main__":
    raise SystemExit(main())
