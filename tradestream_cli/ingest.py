"""`tradestream ingest`: market data into Kafka from a source of the venue registry (the market simulator,
a live exchange, or a recorded file); `python -m streaming.ingestion` runs the same code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from streaming.venues.registry import live_exchanges, mode_help
from tradestream.settings import IngestMode
from tradestream_cli._console import clean_errors, console, fail, settings_or_exit

app = typer.Typer()


def _split_products(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [pair.strip() for value in values for pair in value.split(",") if pair.strip()]


@app.command()
def ingest(
    mode: Annotated[str | None, typer.Option(help=f"{mode_help()}. Default from settings (dry).")] = None,
    exchange: Annotated[str | None, typer.Option(help=f"Wet mode: the live exchange ({', '.join(live_exchanges())})."
                                                      " Default from settings (coinbase).")] = None,
    products: Annotated[list[str] | None, typer.Option(help="Currency pairs, comma separated or repeated "
                                                            "(default: ten liquid USD pairs).")] = None,
    ws_url: Annotated[str | None, typer.Option(help="Wet mode: the live exchange's WebSocket URL "
                                                    "(for coinbase: TRADESTREAM_COINBASE_WS_URL).")] = None,
    rate: Annotated[float | None, typer.Option(help="Simulator: mean trades per second over all pairs.")] = None,
    speed: Annotated[float | None, typer.Option(help="Simulator/replay: event time per wall time (1 = real time, "
                                                     "60 = a minute per second, inf = unpaced).")] = None,
    seed: Annotated[int | None, typer.Option(help="Simulator seed (same seed and start, same trades).")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C / "
                                                        "SIGTERM, or the end of a replay).")] = None,
    file: Annotated[Path | None, typer.Option(help="Replay: trades file (.csv, .parquet, .jsonl).")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Serve Prometheus metrics on this port.")] = None,
    log_every: Annotated[float | None, typer.Option(help="Seconds between summary log lines.")] = None,
) -> None:
    """Publish trades to Kafka `trades` (bad input to `trades.dlq`) until stopped; print a summary."""
    from streaming.ingestion.options import InvalidOption, apply_options
    from streaming.ingestion.service import run_ingestion
    from streaming.kafka.topics import ensure_topics
    from streaming.venues.registry import build_adapter
    from tradestream.runtime.kafka import KafkaRuntimeError

    if mode is not None and mode not in {m.value for m in IngestMode}:
        raise fail(f"--mode {mode!r} is not one of {', '.join(IngestMode)}")
    with clean_errors(InvalidOption):
        settings = apply_options(
            settings_or_exit(), ws_url=ws_url, mode=mode, exchange=exchange, products=_split_products(products),
            rate=rate, speed=speed, seed=seed, duration_s=duration, replay_file=file, metrics_port=metrics_port,
            log_every_s=log_every)
    with clean_errors(ValueError, OSError):
        adapter = build_adapter(settings)
    with clean_errors(KafkaRuntimeError):
        ensure_topics(settings, topics=(settings.kafka.trades_topic, settings.kafka.dlq_topic))
    with clean_errors(ValueError, OSError):
        report = run_ingestion(settings, adapter=adapter)
    _print_summary(report, settings.kafka.trades_topic, settings.kafka.dlq_topic)
    if not report.clean:
        problem = report.error or (
            f"{report.unacknowledged} record(s) unacknowledged, {report.counters.delivery_failed} delivery "
            f"failure(s), {report.unpublished} trade(s) never sent; check the broker at {settings.kafka.bootstrap}")
        raise fail(problem)


def _print_summary(report, trades_topic: str, dlq_topic: str) -> None:
    c = report.counters
    table = Table(title=f"ingest ({report.source}) stopped by {report.stopped_by} after {report.elapsed_s:.1f} s",
                  title_justify="left")
    table.add_column("counter")
    table.add_column("value", justify="right")
    rate = c.published / report.elapsed_s if report.elapsed_s > 0 else 0.0
    rows = [
        ("trades received", c.received),
        (f"published to {trades_topic} (acked)", c.published),
        ("publish rate (trades/s)", f"{rate:,.1f}"),
        ("duplicates dropped", c.duplicates_dropped),
        (f"rejected -> {dlq_topic}", c.rejected_total),
        *((f"  {reason}", count) for reason, count in sorted(c.rejected.items())),
        ("dead letters acked", c.dead_lettered),
        ("delivery failures", c.delivery_failed),
        ("unacknowledged at exit", report.unacknowledged),
        ("frames", c.frames),
        ("reconnects", c.reconnects),
        ("sequence gaps", c.sequence_gaps),
        ("trade-id gaps seen", c.gaps_seen),
        ("trades repaired over REST", c.trades_repaired),
        ("trades unrecoverable", sum(c.trades_unrecoverable.values())),
        *((f"  {reason}", count) for reason, count in sorted(c.trades_unrecoverable.items())),
        ("backpressure waits", c.backpressure_waits),
    ]
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
