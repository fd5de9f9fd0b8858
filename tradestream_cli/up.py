"""`tradestream up` (what `make run` calls): the whole platform in the foreground.

Order: Kafka (reused when already running) -> topics -> Dagster webserver + daemon. The
daemon's supervisor sensor then starts the streams (ingestion, candles, signals, the paper executor) as
Dagster asset materializations. Ctrl-C or SIGTERM stops the Dagster processes, the
streams and the broker this command started, in reverse order.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from streaming.kafka.topics import ensure_topics
from tradestream.runtime import procs
from tradestream.runtime.jars import RuntimeSetupError
from tradestream.runtime.kafka import AlreadyRunning, KafkaRuntimeError, LocalKafka
from tradestream.settings import Settings
from tradestream_cli._console import console, err_console

REPO = Path(__file__).resolve().parent.parent


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or REPO / ".dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    # create the storage tables once, here: webserver and daemon racing on an empty SQLite store can
    # both try to create them ("table alembic_version already exists")
    from dagster import DagsterInstance

    DagsterInstance.from_config(str(home)).dispose()
    return home


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _server_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except OSError:
        return False


def run_platform(settings: Settings, host: str = "127.0.0.1", port: int = 3000, mode: str | None = None) -> int:
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    children: list[tuple[str, subprocess.Popen]] = []
    broker = LocalKafka(settings)
    started_kafka = False
    stopping = False

    def shutdown(code: int) -> int:
        nonlocal stopping
        if stopping:
            return code
        stopping = True
        # a second Ctrl-C or SIGTERM must not cut the shutdown short and leave processes behind
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        console.print("[bold]stopping[/] ...")
        for _name, proc in reversed(children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in reversed(children):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            try:  # its code servers and run workers share its session: stop them now, not at heartbeat timeout
                os.killpg(proc.pid, signal.SIGTERM)
            except OSError:
                pass
            console.print(f"  stopped {name}")
        try:
            from streaming.supervisor.local import LocalProcessBackend

            for name in LocalProcessBackend(settings.paths.home).stop_all():
                console.print(f"  stopped stream {name}")
        except Exception as exc:  # noqa: BLE001 - shutdown must go on
            err_console.print(f"  could not stop streams: {exc}")
        if started_kafka:
            broker.stop()
            console.print("  stopped Kafka")
        return code

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    # Both set explicitly: Python installs its Ctrl-C handler only when SIGINT was not ignored
    # at start, and a process started in the background of a script inherits SIGINT ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        procs.require_free(port, "the Dagster UI", "--port", host)
        # 1. Kafka
        if settings.kafka.bootstrap_servers is None:
            try:
                broker.start()
                started_kafka = True
            except AlreadyRunning as exc:
                console.print(f"Kafka already running at {exc.status.bootstrap}; reusing it")
        timings["kafka"] = time.monotonic() - t0
        created = ensure_topics(settings)
        console.print(f"Kafka at [bold]{settings.kafka.bootstrap}[/] ({timings['kafka']:.1f} s); topics: "
                      + ", ".join(f"{t} ({r})" for t, r in created.items()))
        # 2. Dagster
        env = {**os.environ, "DAGSTER_HOME": str(dagster_home()),
               "TRADESTREAM_HOME": str(settings.paths.home.resolve()),
               # run launches on a loaded 2-core machine can exceed Dagster's default 60 s gRPC timeout
               "DAGSTER_GRPC_TIMEOUT_SECONDS": os.environ.get("DAGSTER_GRPC_TIMEOUT_SECONDS", "180")}
        if mode:
            env["TRADESTREAM_INGEST_MODE"] = mode
        logs = settings.paths.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        workspace = str(REPO / "workspace.yaml")
        t1 = time.monotonic()
        for name, argv in (
            ("dagster-webserver", [_bin("dagster-webserver"), "-h", host, "-p", str(port), "-w", workspace]),
            ("dagster-daemon", [_bin("dagster-daemon"), "run", "-w", workspace]),
        ):
            out = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
            children.append((name, subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                    cwd=REPO, start_new_session=True)))
        url = f"http://{host}:{port}"
        if not procs.wait_for(lambda: _server_ready(url), 180, interval=0.5,
                              alive=lambda: all(p.poll() is None for _, p in children)):
            dead = [n for n, p in children if p.poll() is not None]
            err_console.print(f"[red]error:[/] Dagster did not come up ({', '.join(dead) or 'timeout'}); "
                              f"see {logs}/dagster-*.log:\n{procs.tail(logs / 'dagster-webserver.log')}")
            return shutdown(1)
        timings["dagster"] = time.monotonic() - t1
        console.print(f"Dagster UI at [bold]{url}[/] ({timings['dagster']:.1f} s); daemon running; logs in {logs}")
        console.print(f"TradeStream is up in {time.monotonic() - t0:.1f} s. Press Ctrl-C to stop.")
        while True:
            for name, proc in children:
                if proc.poll() is not None:
                    err_console.print(f"[red]error:[/] {name} exited with code {proc.returncode}; "
                                      f"see {logs}/{name}.log")
                    return shutdown(1)
            time.sleep(1)
    except KeyboardInterrupt:
        return shutdown(0)
    except (KafkaRuntimeError, RuntimeSetupError, procs.PortInUseError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return shutdown(1)
