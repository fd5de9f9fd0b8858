"""`tradestream topics create`."""

from __future__ import annotations

import typer
from rich.table import Table

from streaming.kafka.topics import ensure_topics
from tradestream.runtime.kafka import KafkaRuntimeError
from tradestream_cli._console import clean_errors, console, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command()
def create() -> None:
    """Create trades, candles, signals and trades.dlq (idempotent; partitions, retention, RF from settings)."""
    settings = settings_or_exit()
    with clean_errors(KafkaRuntimeError):
        result = ensure_topics(settings)
    k = settings.kafka
    table = Table("topic", "result", "partitions", "replication", "retention h")
    for topic, what in result.items():
        hours = k.dlq_retention_hours if topic == k.dlq_topic else k.retention_hours
        table.add_row(topic, what, str(k.topic_partitions), str(k.topic_replication), str(hours))
    console.print(table)
