"""`tradestream kafka start|stop|status`."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from tradestream.runtime.jars import RuntimeSetupError
from tradestream.runtime.kafka import AlreadyRunning, KafkaRuntimeError, LocalKafka
from tradestream.runtime.procs import PortInUseError
from tradestream_cli._console import clean_errors, console, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command()
def start(brokers: int = typer.Option(1, "--brokers", help="1 (single node) or 3 (replicated KRaft quorum).",
                                      min=1, max=3)) -> None:
    """Start a local Apache Kafka broker (KRaft, broker+controller) and wait until it answers."""
    settings = settings_or_exit()
    broker = LocalKafka(settings)
    t0 = time.monotonic()
    with clean_errors(KafkaRuntimeError, RuntimeSetupError, PortInUseError):
        try:
            status = broker.start(brokers=brokers)
        except AlreadyRunning as exc:
            console.print(f"Kafka is already running at {exc.status.bootstrap} "
                          f"(brokers {exc.status.broker_ids}, pids {sorted(exc.status.pids.values())})")
            return
    console.print(f"Kafka {status.version} started at [bold]{status.bootstrap}[/] with brokers {status.broker_ids} "
                  f"in {time.monotonic() - t0:.1f} s (data in {broker.root})")


@app.command()
def stop() -> None:
    """Stop the local brokers cleanly (SIGTERM, controlled shutdown)."""
    stopped = LocalKafka(settings_or_exit()).stop()
    console.print(f"stopped Kafka (pids {stopped})" if stopped else "Kafka is not running")


@app.command()
def status() -> None:
    """Broker ids, version and topics of the local (or configured) cluster."""
    settings = settings_or_exit()
    st = LocalKafka(settings).status()
    if not st.running:
        console.print(f"Kafka is [red]not reachable[/] at {st.bootstrap}" + (f" ({st.error})" if st.error else ""))
        raise typer.Exit(1)
    console.print(f"Kafka {st.version} at [bold]{st.bootstrap}[/]: brokers {st.broker_ids}, "
                  f"controller {st.controller_id}, local pids {sorted(st.pids.values())}")
    table = Table("topic", "partitions", "replication")
    for name, t in st.topics.items():
        table.add_row(name, str(t["partitions"]), str(t["replication"]))
    console.print(table)
