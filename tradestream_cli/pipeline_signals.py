"""`tradestream pipeline signals`: the live strategy engine on Flink (registered by tradestream_cli.pipeline)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tradestream_cli._console import clean_errors, console, err_console, fail, settings_or_exit

WORKER_POOL_ENV = "TRADESTREAM_FLINK_WORKER_POOL"  # set by the Kubernetes stream supervisor


def _check_master(value: str | None) -> str | None:
    if value is None or value in ("[local]", "[auto]"):
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise typer.BadParameter(f"{value!r} must be '[local]' or HOST:PORT, e.g. localhost:8081")
    return value


def signals(
    config: Annotated[Path | None, typer.Option(
        "--config", help="Live strategy config (YAML/JSON): strategies and parameters per pair and timeframe. "
                         "Reloaded when it changes. Default: every strategy with its defaults on 1m candles.")] = None,
    flink_master: Annotated[str | None, typer.Option(
        "--flink-master", callback=_check_master,
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
) -> None:
    """Run the live strategy engine: Kafka `candles` -> strategy signals on Kafka `signals`, until stopped."""
    from streaming.pipeline.kafkaio import KafkaIOError
    from streaming.pipeline.signals import START_POLICIES, SignalJobConfig, SignalJobError, run_signal_job
    from streaming.pipeline.signals_config import LiveConfigError, load_live_set
    from tradestream.runtime.jars import RuntimeSetupError

    if from_beginning:
        if start not in ("latest", "earliest"):
            raise fail(f"--from-beginning contradicts --start {start}; give one of them")
        start = "earliest"
    if start not in START_POLICIES:
        raise fail(f"--start {start!r} is not one of {', '.join(START_POLICIES)}")
    settings = settings_or_exit()
    try:
        job = SignalJobConfig.from_settings(
            settings, config, reload_interval_s=reload_interval, history_hours=history_hours, start=start,
            fresh=fresh, seed_from_topic=seed, parallelism=parallelism, job_name=job_name, consumer_group=group,
            flink_master=flink_master, worker_pool=os.environ.get(WORKER_POOL_ENV) or None)
        active, errors = load_live_set(job.live_set)
    except (LiveConfigError, SignalJobError) as exc:
        raise fail(str(exc)) from None
    for error in errors:
        err_console.print(f"skipped {error}", highlight=False, markup=False, soft_wrap=True)
    if not active.entries:
        raise fail(f"strategy config {config} has no usable entry; fix the entries above")
    source = str(config) if config else "default set (every strategy, default parameters, 1m)"
    console.print(f"signal engine: {len(active)} strategy entries from {source}; {settings.kafka.candles_topic} -> "
                  f"{settings.kafka.signals_topic} on Flink {flink_master or settings.flink.master}, "
                  f"parallelism {parallelism}", highlight=False, markup=False)
    with clean_errors(RuntimeSetupError, KafkaIOError):
        run_signal_job(settings, job)


def register(app: typer.Typer) -> None:
    app.command("signals")(signals)
