"""`tradestream topics create`."""

from __future__ import annotations

import typer
from rich.table import Table

from streaming.kafka.topics import ensure_topics, topic_partitions
from tradestream.runtime.kafka import KafkaRuntimeError
from tradestream_cli._console import clean_errors, console, settings_or_exit

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command()
def create() -> None:
    """Create the platform's topics: trades, candles, signals, trades.dlq and the execution stream's (idempotent;
    partitions, retention, RF from settings)."""
    settings = settings_or_exit()
    with clean_errors(KafkaRuntimeError):
        result = ensure_topics(settings)
    k = settings.kafka
    table = Table("topic", "result", "partitions", "replication", "retention h")
    for topic, what in result.items():
        hours = k.dlq_retention_hours if topic == k.dlq_topic else k.retention_hours
        kept = "compacted" if topic in k.compacted_topics else str(hours)
        table.add_row(topic, what, str(topic_partitions(settings, topic)), str(k.topic_replication), kept)
    console.print(table)
