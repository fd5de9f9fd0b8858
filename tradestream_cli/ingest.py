"""`tradestream ingest`: market data into Kafka (simulator, Coinbase, or a recorded file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradestream_cli._console import clean_errors, console, fail, settings_or_exit

app = typer.Typer()

MODES = ("dry", "wet", "replay")


def _split_products(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [pair.strip() for value in values for pair in value.split(",") if pair.strip()]


@app.command()
def ingest(
    mode: Annotated[str | None, typer.Option(help="dry = market simulator, wet = Coinbase WebSocket, "
                                                  "replay = recorded file. Default from settings (dry).")] = None,
    products: Annotated[list[str] | None, typer.Option(help="Currency pairs, comma separated or repeated "
                                                            "(default: ten liquid USD pairs).")] = None,
    ws_url: Annotated[str | None, typer.Option(help="Coinbase Advanced Trade WebSocket URL (wet mode).")] = None,
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
    from pydantic import ValidationError

    from streaming.kafka.topics import ensure_topics
    from tradestream.ingest.replay import ReplayFileError
    from tradestream.runtime.kafka import KafkaRuntimeError
    from tradestream.settings import CoinbaseSettings, IngestionSettings

    if mode is not None and mode not in MODES:
        raise fail(f"--mode {mode!r} is not one of {', '.join(MODES)}")
    overrides: dict[str, Any] = {
        "mode": mode, "products": _split_products(products), "rate": rate, "speed": speed, "seed": seed,
        "duration_s": duration, "replay_file": file, "metrics_port": metrics_port, "log_every_s": log_every,
    }
    overrides = {name: value for name, value in overrides.items() if value is not None}
    settings = settings_or_exit()
    try:
        ingestion = IngestionSettings(**overrides)
        coinbase = CoinbaseSettings(ws_url=ws_url) if ws_url is not None else settings.coinbase
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise fail(f"invalid option {where}={first.get('input')!r}: {first['msg']}") from None
    settings = settings.model_copy(update={"ingestion": ingestion, "coinbase": coinbase})
    if ingestion.mode == "replay" and ingestion.replay_file is None:
        raise fail("replay mode needs a file: pass --file PATH (CSV, Parquet or JSON lines)")

    from streaming.ingestion.service import build_adapter, run_ingestion

    with clean_errors(KafkaRuntimeError):
        ensure_topics(settings)
    with clean_errors(ValueError, ReplayFileError, OSError):
        adapter = build_adapter(settings, ingestion.mode)
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
        ("backpressure waits", c.backpressure_waits),
    ]
    for name, value in rows:
        table.add_row(name, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
