"""`tradestream pipeline signals`: the live strategy engine on Flink (registered by tradestream_cli.pipeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradestream_cli._console import check_flink_master, clean_errors, console, err_console, fail, settings_or_exit


def signals(
    config: Annotated[Path | None, typer.Option(
        "--config", help="Live strategy config (YAML/JSON): strategies and parameters per pair and timeframe. "
                         "Reloaded when it changes. Default: every strategy with its defaults on 1m candles.")] = None,
    flink_master: Annotated[str | None, typer.Option(
        "--flink-master", callback=check_flink_master,
        help="'[local]' (embedded mini-cluster, default) or HOST:PORT of a session cluster.")] = None,
    start: Annotated[str, typer.Option(
        help="Where to read `candles` when no checkpoint is resumed: latest (windows seeded from the topic's "
             "history), earliest (evaluate every candle on the topic) or committed (the consumer group's "
             "offsets).")] = "latest",
    from_beginning: Annotated[bool, typer.Option(
        "--from-beginning", help="Same as --start earliest.")] = False,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Ignore retained checkpoints: start over from --start with empty state.")] = False,
    seed: Annotated[bool, typer.Option(
        "--seed/--no-seed", help="Fill a new stream's window from the candles topic before its first "
                                 "evaluation.")] = True,
    parallelism: Annotated[int, typer.Option(
        min=1, help="Parallel evaluators (streams are spread over them by key).")] = 2,
    reload_interval: Annotated[float, typer.Option(
        min=0, help="Seconds between checks of the config file for changes.")] = 2.0,
    history_hours: Annotated[float | None, typer.Option(
        help="Candle history the engine can seed from (default: the topics' retention); strategies whose window "
             "needs more are skipped.")] = None,
    job_name: Annotated[str, typer.Option(help="Flink job name; also names the checkpoint folder.")]
        = "tradestream-signals",
    group: Annotated[str, typer.Option(help="Kafka consumer group (offsets committed for lag monitoring).")]
        = "tradestream-signals",
    engine: Annotated[str, typer.Option(
        help="incremental: every indicator advances one bar per candle (default); window: the reference path, "
             "pandas-ta over each stream's window on every candle (same signals, ~100x the CPU).")] = "incremental",
) -> None:
    """Run the live strategy engine: Kafka `candles` -> strategy signals on Kafka `signals`, until stopped."""
    from streaming.kafka.beam import KafkaIOError
    from streaming.signals.job import SignalJobConfig, SignalJobError, run_signal_job, runnable_live_set
    from streaming.signals.live_set import LiveConfigError
    from tradestream.runtime.jars import RuntimeSetupError

    settings = settings_or_exit()

    def skipped(error: str) -> None:
        err_console.print(f"skipped {error}", highlight=False, markup=False, soft_wrap=True)

    try:
        job = SignalJobConfig.from_options(
            settings, config=config, flink_master=flink_master, start=start, from_beginning=from_beginning,
            fresh=fresh, seed=seed, parallelism=parallelism, reload_interval=reload_interval,
            history_hours=history_hours, job_name=job_name, group=group, engine=engine)
        active = runnable_live_set(job, skipped)
    except (LiveConfigError, SignalJobError) as exc:
        raise fail(str(exc)) from None
    source = str(config) if config else "default set (every strategy, default parameters, 1m)"
    console.print(f"signal engine: {len(active)} strategy entries from {source}; {settings.kafka.candles_topic} -> "
                  f"{settings.kafka.signals_topic} on Flink {flink_master or settings.flink.master}, "
                  f"parallelism {parallelism}, {engine} engine", highlight=False, markup=False)
    with clean_errors(RuntimeSetupError, KafkaIOError):
        run_signal_job(settings, job)


def register(app: typer.Typer) -> None:
    app.command("signals")(signals)
