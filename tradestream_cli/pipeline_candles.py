"""`tradestream pipeline candles`: the candle job (trades -> 1m..1d candles) on Flink."""

from __future__ import annotations

import logging

import typer
from rich.markup import escape
from rich.table import Table

from tradestream.runtime.jars import RuntimeSetupError
from tradestream_cli._console import check_flink_master, clean_errors, console, settings_or_exit


def candles(
    mode: str = typer.Option("stream", "--mode", help="stream: run until stopped, resuming from checkpoints; "
                                                     "batch: process a range of trades and exit."),
    from_: str = typer.Option(None, "--from", help="Batch: first window start (UTC minute, ISO-8601 or epoch s). "
                                                   "Default: everything on the topic."),
    to: str = typer.Option(None, "--to", help="Batch: windows end at or before this UTC minute. Default: now."),
    flink_master: str = typer.Option(None, "--flink-master", callback=check_flink_master,
                                     help="'\\[local]' (embedded mini-cluster, default) or HOST:PORT of a session "
                                          "cluster."),
    parallelism: int = typer.Option(None, "--parallelism", min=1, help="Flink parallelism (default: settings)."),
    sdk_workers: int = typer.Option(1, "--sdk-workers", min=1,
                                    help="Python SDK worker processes (1: threads of this process)."),
    checkpoint_interval_ms: int = typer.Option(None, "--checkpoint-interval-ms", min=100,
                                               help="Stream: Flink checkpoint interval (default: settings)."),
    start: str = typer.Option("earliest", "--start", help="Stream without a checkpoint: earliest | latest | "
                                                          "committed offsets of the consumer group."),
    fresh: bool = typer.Option(False, "--fresh", help="Stream: ignore and delete retained checkpoints."),
    job_name: str = typer.Option("tradestream-candles", "--job-name", help="Names the Flink job and its "
                                                                           "checkpoint folder."),
    lateness_s: int = typer.Option(None, "--allowed-lateness-s", min=0, help="Default: pipeline settings."),
    fill_cap_s: int = typer.Option(None, "--fill-forward-cap-s", min=60, help="Default: pipeline settings."),
    watermark_lag_s: float = typer.Option(2.0, "--watermark-lag-s", min=0.0,
                                          help="Event-time disorder tolerated before a trade counts as late."),
    idle_timeout_s: float = typer.Option(5.0, "--idle-timeout-s", min=0.1,
                                         help="A partition at its end this long stops holding the watermark."),
) -> None:
    """Build 1m..1d candles from Kafka `trades` into `candles` (Beam on Flink)."""
    from streaming.candles.job import CandleJobConfig, CandleJobError, CandleOptionError, run_candle_job
    from streaming.kafka.beam import KafkaIOError

    settings = settings_or_exit()
    # Beam reports every string type hint it cannot resolve at INFO; keep the console for the job's own news
    logging.getLogger("apache_beam.typehints").setLevel(logging.WARNING)
    with clean_errors(CandleJobError, KafkaIOError, RuntimeSetupError):
        try:
            config = CandleJobConfig.from_options(
                settings, mode=mode, from_=from_, to=to, flink_master=flink_master, parallelism=parallelism,
                sdk_workers=sdk_workers, checkpoint_interval_ms=checkpoint_interval_ms, start=start, fresh=fresh,
                job_name=job_name, lateness_s=lateness_s, fill_cap_s=fill_cap_s, watermark_lag_s=watermark_lag_s,
                idle_timeout_s=idle_timeout_s)
        except CandleOptionError as exc:
            raise typer.BadParameter(str(exc)) from None
        where = config.flink_master or settings.flink.master
        console.print(f"candle job [bold]{config.job_name}[/] ({mode}) on Flink {escape(where)}: "
                      f"{config.trades_topic} -> {config.candles_topic}, dead letters to {config.dlq_topic}")
        if mode == "stream":
            console.print("running until stopped (Ctrl-C cancels the job; its checkpoints are kept)")
        result = run_candle_job(settings, config)
    if mode == "batch":
        _print_counts(result)


def _print_counts(result) -> None:
    try:
        counters = result.metrics().query()["counters"]
    except Exception as exc:  # noqa: BLE001 - a summary is a nicety; the job itself succeeded
        logging.getLogger(__name__).info("no job metrics: %s", exc)
        return
    totals: dict[str, int] = {}
    for counter in counters:
        if counter.key.metric.namespace in ("candles", "kafka"):
            value = counter.committed if counter.committed is not None else counter.attempted
            totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + (value or 0)
    if not totals:
        console.print("the runner reported no counters for this job")
        return
    table = Table(title="candle batch")
    table.add_column("counter")
    table.add_column("value", justify="right")
    for name in sorted(totals):
        table.add_row(name, f"{totals[name]:,}")
    console.print(table)


def register(pipeline_app: typer.Typer) -> None:
    """Adds `candles` to the `tradestream pipeline` group."""
    pipeline_app.command("candles")(candles)
