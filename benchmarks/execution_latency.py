"""Latency and throughput of the executor: a signal published on `signals` -> its fill on `fills`.

What it runs: the real executor (`python -m streaming.execution`, paper, `candle_close` fills,
Kafka transactions) against a real broker, with one account of ``--allocations`` allocations
(DOUBLE_EMA_CROSSOVER on as many pairs). Each allocation alternates BUY and SELL on
successive candles at a constant price, so every signal becomes one order and one fill, and
no risk limit trips. The limit it is compared with, on the same broker in the same run: a
bare consume-transform-produce loop with transactions (this script with ``--bare-loop``, in
its own process as the executor is): read `signals` read_committed, write one record per
input, send the offsets and commit, batch after batch; no executor, no snapshot.

Latency: signals published at ``--rates`` per second (paced) for ``--seconds`` each; latency
of a signal = from just before it is produced to the arrival of its fill (or the bare loop's
output) at a read_committed consumer polling the output topic; p50, p99 and max. Throughput:
a backlog of ``--backlog`` signals is published first, then the loop is started and the
time from its start (ready to read: the executor restored) to the backlog's last output is measured:
signals answered per second.

    TRADESTREAM_KAFKA_PORT=59092 TRADESTREAM_KAFKA_CONTROLLER_PORT=59093 \\
        .venv/bin/python benchmarks/execution_latency.py [--rates 100,1000] [--seconds 10] [--backlog 20000]

Uses the broker at the configured port when one answers, else starts one in a temporary home
(and stops it). Targets (issue 13): p99 <= 50 ms at 1,000 signals/s, throughput >= 0.5 of the
bare loop's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from confluent_kafka import KafkaError, TopicPartition  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.signal_latency import broker, percentile  # noqa: E402
from streaming.kafka.clients import KafkaClientConfig  # noqa: E402
from streaming.kafka.topics import ensure_topics  # noqa: E402
from tradestream.settings import KafkaSettings, Settings  # noqa: E402
from tradestream.strategies import get_strategy  # noqa: E402
from tradestream.strategies.live import LiveSignal  # noqa: E402
from tradestream.v1 import execution_pb2  # noqa: E402

STRATEGY = "DOUBLE_EMA_CROSSOVER"
T0 = pd.Timestamp("2024-01-01", tz="UTC")
console = Console(width=150)


def private_settings(base: Settings) -> Settings:
    """``base`` with topics of its own (created): every topic name gets a suffix."""
    tag = uuid.uuid4().hex[:6]
    fields = base.kafka.model_dump()
    for name in fields:
        if name.endswith("_topic"):
            fields[name] = f"{fields[name]}-bench-{tag}"
    settings = base.model_copy(update={"kafka": KafkaSettings(**fields)})
    ensure_topics(settings)
    return settings


def environment(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap}
    for name, value in settings.kafka.model_dump().items():
        if name.endswith("_topic"):
            env[f"TRADESTREAM_KAFKA_{name.upper()}"] = value
    return env


def pairs(n: int) -> list[str]:
    return [f"B{i:03d}-USD" for i in range(n)]


class Signals:
    """Successive signals: allocation after allocation, each alternating BUY and SELL on its next candle."""

    def __init__(self, allocations: int):
        self.pairs = pairs(allocations)
        self.params = get_strategy(STRATEGY).validate_params({})
        self.n = 0

    def next(self) -> tuple[str, bytes, str]:
        i, self.n = self.n, self.n + 1
        pair = self.pairs[i % len(self.pairs)]
        step = i // len(self.pairs)
        live = LiveSignal(strategy=STRATEGY, params=self.params, pair=pair, timeframe="1m",
                          candle_time=T0 + pd.Timedelta(minutes=step), price=100.0,
                          type="BUY" if step % 2 == 0 else "SELL", reason="bench")
        emitted = (T0 + pd.Timedelta(minutes=step + 1)).to_pydatetime()
        return pair, live.to_proto(emitted_at=emitted).SerializeToString(), live.signal_id


def write_accounts(path: Path, allocations: int) -> Path:
    account = {"name": "bench", "cash": 1_000_000.0 * allocations, "fill_model": "candle_close",
               "allocations": [{"strategy": STRATEGY, "pair": p, "timeframe": "1m", "share": 1.0 / allocations,
                                "fees": 0.0, "slippage_bps": 0.0} for p in pairs(allocations)]}
    path.write_text(yaml.safe_dump({"accounts": [account]}, sort_keys=False))
    return path


class Collector(threading.Thread):
    """Arrival times of output records (read_committed), by the signal id they answer."""

    def __init__(self, kafka: KafkaClientConfig, topic: str, decode):
        super().__init__(daemon=True)
        self.consumer = kafka.consumer(f"bench-{uuid.uuid4().hex[:8]}", {
            "isolation.level": "read_committed", "enable.auto.commit": False, "fetch.wait.max.ms": 1})
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        self.decode = decode
        self.arrivals: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for message in self.consumer.consume(1000, 0.05):
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(message.error())
                    continue
                now = time.perf_counter()
                self.arrivals.setdefault(self.decode(message), now)
        self.consumer.close()


def fill_signal_id(message) -> str:
    return execution_pb2.Fill.FromString(message.value()).signal_id


def bare_signal_id(message) -> str:
    return message.value().decode()


def publish(kafka: KafkaClientConfig, topic: str, signals: Signals, count: int, rate: float | None,
            sent: dict[str, float], progress: Progress | None = None, label: str = "") -> None:
    producer = kafka.producer({"linger.ms": 0, "acks": "all", "enable.idempotence": True})
    task = progress.add_task(label, total=count) if progress else None
    start = time.perf_counter()
    for k in range(count):
        if rate:
            due = start + k / rate
            while (wait := due - time.perf_counter()) > 0:
                producer.poll(min(wait, 0.001))
        key, value, signal_id = signals.next()
        sent[signal_id] = time.perf_counter()
        producer.produce(topic, value, key.encode())
        producer.poll(0)
        if progress and k % 100 == 0:
            progress.update(task, completed=k)
    producer.flush(30)
    if progress:
        progress.update(task, completed=count)


def bare_loop(kafka: KafkaClientConfig, source: str, sink: str, group: str) -> None:
    """The limit: consume, produce one record per input, commit offsets, all in one transaction per batch."""
    consumer = kafka.consumer(group, {"isolation.level": "read_committed", "enable.auto.commit": False,
                                      "auto.offset.reset": "earliest", "fetch.wait.max.ms": 1})
    producer = kafka.transactional_producer(f"{group}-tx", {"linger.ms": 0})
    producer.init_transactions(30)
    consumer.subscribe([source])
    print("bare loop ready", flush=True)
    while True:
        batch = [m for m in consumer.consume(5000, 0.05) if m.error() is None]
        if not batch:
            continue
        producer.begin_transaction()
        for message in batch:
            producer.produce(sink, _signal_id(message.value()).encode(), message.key())
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata())
        producer.commit_transaction()


def _signal_id(value: bytes) -> str:
    from tradestream.v1 import strategy_pb2

    return strategy_pb2.Signal.FromString(value).signal_id


class Loop:
    """The executor or the bare loop as a process of its own."""

    def __init__(self, kind: str, settings: Settings, home: Path, allocations: int):
        self.kind = kind
        group = f"bench-{kind}-{uuid.uuid4().hex[:6]}"
        if kind == "executor":
            accounts = write_accounts(home / "accounts.yaml", allocations)
            argv = [sys.executable, "-m", "streaming.execution", "--accounts", str(accounts), "--group", group,
                    "--start", "earliest", "--clock", "event"]
            self.ready = "restored from"
        else:
            argv = [sys.executable, __file__, "--bare-loop", settings.kafka.signals_topic, settings.kafka.orders_topic,
                    group]
            self.ready = "bare loop ready"
        self.log = home / f"{kind}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=environment(settings),
                                         cwd=ROOT)
        deadline = time.monotonic() + 120
        while self.ready not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {kind} did not start; log {self.log}:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.02)
        self.ready_at = time.perf_counter()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait_all(collector: Collector, ids, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    ids = list(ids)
    while time.monotonic() < deadline:
        if all(i in collector.arrivals for i in ids):
            return True
        time.sleep(0.1)
    return False


def run_one(kind: str, base: Settings, home: Path, args: argparse.Namespace, progress: Progress) -> dict:
    """One loop: its throughput on a backlog, then its latency at each rate (fresh topics each)."""
    result: dict = {"kind": kind}
    # throughput: a backlog first, then the loop
    settings = private_settings(base)
    kafka = KafkaClientConfig.from_settings(settings.kafka)
    signals = Signals(args.allocations)
    sent: dict[str, float] = {}
    publish(kafka, settings.kafka.signals_topic, signals, args.backlog, None, sent, progress, f"{kind}: backlog")
    out_topic = settings.kafka.fills_topic if kind == "executor" else settings.kafka.orders_topic
    collector = Collector(kafka, out_topic, fill_signal_id if kind == "executor" else bare_signal_id)
    collector.start()
    loop = Loop(kind, settings, home, args.allocations)
    try:
        if not wait_all(collector, sent, 600):
            raise RuntimeError(f"the {kind} did not answer every backlog signal; log {loop.log}")
        # from the moment the loop reads (the executor: restored, consuming) to the backlog's last output
        result["throughput"] = len(sent) / (max(collector.arrivals[i] for i in sent) - loop.ready_at)
        # latency at each rate, on the same running loop (its inputs: the same topic)
        for rate in args.rates:
            sent = {}
            publish(kafka, settings.kafka.signals_topic, signals, int(rate * args.seconds), rate, sent, progress,
                    f"{kind}: {rate:g}/s")
            if not wait_all(collector, sent, 120):
                raise RuntimeError(f"the {kind} did not answer every signal at {rate}/s; log {loop.log}")
            ms = [(collector.arrivals[i] - t) * 1000 for i, t in sent.items()]
            result[rate] = {"p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99), "max": max(ms), "n": len(ms)}
    finally:
        loop.stop()
        collector.stop.set()
    return result


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--bare-loop":
        settings = Settings.load()
        bare_loop(KafkaClientConfig.from_settings(settings.kafka), sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,1000", help="signals per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of signals at each rate")
    parser.add_argument("--backlog", type=int, default=20_000, help="signals of the throughput measurement")
    parser.add_argument("--allocations", type=int, default=20, help="allocations (pairs) of the account")
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    load_before = os.getloadavg()
    home = Path(tempfile.mkdtemp(prefix="execution-latency-"))
    settings, local = broker(Settings(), home)
    try:
        with Progress(console=console, transient=True) as progress:
            bare = run_one("bare loop", settings, home, args, progress)
            executor = run_one("executor", settings, home, args, progress)
    finally:
        if local is not None:
            local.stop()
    table = Table(title=f"signal -> fill on one broker ({args.allocations} allocations, candle_close, "
                        f"{args.seconds:g} s per rate)", title_justify="left")
    for column in ("", "throughput /s", *(f"{r:g}/s p50 ms" for r in args.rates),
                   *(f"{r:g}/s p99 ms" for r in args.rates), *(f"{r:g}/s max ms" for r in args.rates)):
        table.add_column(column, justify="right" if column else "left")
    for row in (bare, executor):
        table.add_row(row["kind"], f"{row['throughput']:,.0f}", *(f"{row[r]['p50']:.1f}" for r in args.rates),
                      *(f"{row[r]['p99']:.1f}" for r in args.rates), *(f"{row[r]['max']:.1f}" for r in args.rates))
    console.print(table)
    ratio = executor["throughput"] / bare["throughput"]
    top = max(args.rates)
    console.print(f"executor throughput / bare loop's: {ratio:.2f} (target >= 0.5); p99 at {top:g}/s: "
                  f"{executor[top]['p99']:.1f} ms (target <= 50 ms)")
    console.print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; after: "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
