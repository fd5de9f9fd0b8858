"""The live strategy engine: Kafka ``candles`` -> Beam on Flink -> Kafka ``signals`` (+ ``trades.dlq``).

    ReadFromKafka(candles) | DecodeCandles() | EvaluateStrategies() | WriteToKafka(signals)

A streaming job that runs until stopped, checkpointing every ``checkpointing_interval_ms``
and resuming from the newest retained checkpoint when started again (its positions,
windows and Kafka offsets come back together). Without a checkpoint it starts reading at
``start`` (``latest`` by default) and seeds each stream's window from the topic's
history. docs/signals.md explains the semantics and the performance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult

from streaming.pipeline.checkpoints import checkpoint_args, latest_checkpoint, prune_other_jobs
from streaming.pipeline.job_control import cancel_on_signals, python_first_on_path, stop_worker_processes
from streaming.pipeline.kafkaio import ReaderSettings, ReadFromKafka, StartPolicy, WriteToKafka
from streaming.pipeline.signals_config import DEFAULT_RELOAD_INTERVAL_S, LiveSetSpec
from streaming.pipeline.signals_engine import DEFAULT_SNAPSHOT_EVERY
from streaming.pipeline.signals_history import KafkaCandleHistory
from streaming.pipeline.signals_transforms import DLQ_TAG, DecodeCandles, EngineOptions, EvaluateStrategies
from tradestream.runtime.beam import flink_pipeline_args
from tradestream.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_JOB_NAME = "tradestream-signals"
DEFAULT_CONSUMER_GROUP = "tradestream-signals"  # the stream supervisor reads this group's lag
START_POLICIES: tuple[str, ...] = ("latest", "earliest", "committed")
# Executable stages Beam fuses this pipeline into: impulse+split, read+decode(+dead letters),
# evaluate+write. Flink opens one operator per stage and parallel slot.
FUSED_STAGES = 3


class SignalJobError(ValueError):
    """The job's configuration is inconsistent. The message names the value and the fix."""


@dataclass(frozen=True)
class SignalJobConfig:
    bootstrap: str
    candles_topic: str
    signals_topic: str
    dlq_topic: str
    live_set: LiveSetSpec
    consumer_group: str = DEFAULT_CONSUMER_GROUP
    start: StartPolicy = "latest"         # without a checkpoint to resume from
    seed_from_topic: bool = True          # fill new streams' windows from the candles topic
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    job_name: str = DEFAULT_JOB_NAME
    flink_master: str | None = None
    worker_pool: str | None = None        # EXTERNAL SDK worker pool (Kubernetes sidecar), else LOOPBACK
    parallelism: int = 2
    process_workers: bool = True          # LOOPBACK: one SDK worker process per parallel slot
    checkpointing_interval_ms: int | None = None
    max_bundle_time_ms: int = 100         # bounds how long signals wait in a bundle before reaching Kafka
    checkpoint_dir: Path | None = None    # default <home>/checkpoints/<job_name>
    fresh: bool = False                   # ignore retained checkpoints
    warm_up: bool = True
    extra_args: tuple[str, ...] = field(default_factory=tuple)
    # librdkafka security settings for every client; kept out of repr: it may hold a password
    kafka_client: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, config_path: str | Path | None = None, *,
                      reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S, history_hours: float | None = None,
                      **overrides) -> SignalJobConfig:
        """The job for ``settings``; ``config_path`` None runs the default strategy set."""
        k = settings.kafka
        hours = float(history_hours if history_hours is not None else k.retention_hours)
        live_set = LiveSetSpec.from_file(config_path, history_hours=hours, reload_interval_s=reload_interval_s)
        job_name = overrides.get("job_name", cls.job_name)
        config = cls(bootstrap=k.bootstrap, candles_topic=k.candles_topic, signals_topic=k.signals_topic,
                     dlq_topic=k.dlq_topic, live_set=live_set,
                     checkpoint_dir=settings.paths.home / "checkpoints" / job_name,
                     kafka_client=tuple(sorted(k.client_config().items())))
        return replace(config, **overrides).validated()

    def validated(self) -> SignalJobConfig:
        if self.start not in START_POLICIES:
            raise SignalJobError(f"start policy {self.start!r} must be one of {', '.join(START_POLICIES)}")
        if self.parallelism < 1:
            raise SignalJobError(f"parallelism {self.parallelism} must be at least 1")
        if self.snapshot_every < 1:
            raise SignalJobError(f"snapshot_every {self.snapshot_every} must be at least 1")
        if self.max_bundle_time_ms < 1:
            raise SignalJobError(f"max bundle time {self.max_bundle_time_ms} ms must be at least 1")
        if self.live_set.reload_interval_s < 0:
            raise SignalJobError(f"reload interval {self.live_set.reload_interval_s} s must be >= 0")
        if self.live_set.history_hours <= 0:
            raise SignalJobError(f"history hours {self.live_set.history_hours} must be > 0")
        return self

    def engine_options(self) -> EngineOptions:
        history = (KafkaCandleHistory(self.bootstrap, self.candles_topic, client_config=self.kafka_client)
                   if self.seed_from_topic else None)
        return EngineOptions(self.live_set, history, self.snapshot_every, self.warm_up)


def build_signal_pipeline(p: beam.Pipeline, config: SignalJobConfig) -> None:
    """Adds read -> decode -> evaluate -> write to ``p``."""
    # Latency matters more than batching here: poll often, hand over small batches.
    reader = ReaderSettings(bootstrap=config.bootstrap, group_id=config.consumer_group,
                            client_config=config.kafka_client, max_poll_s=0.2, empty_poll_delay_s=0.05)
    batches = p | "ReadCandles" >> ReadFromKafka(config.candles_topic, reader, start=config.start)
    decoded = batches | "DecodeCandles" >> DecodeCandles(config.live_set.history_hours, config.parallelism)
    (decoded["candles"]
     | "EvaluateStrategies" >> EvaluateStrategies(config.engine_options())
     | "WriteSignals" >> WriteToKafka(config.signals_topic, config.bootstrap, config.kafka_client))
    decoded[DLQ_TAG] | "WriteDeadLetters" >> WriteToKafka(config.dlq_topic, config.bootstrap, config.kafka_client)


def pipeline_args(settings: Settings, config: SignalJobConfig) -> tuple[list[str], Path | None]:
    """FlinkRunner options for the job, and the checkpoint it resumes from."""
    args = flink_pipeline_args(settings, streaming=True, job_name=config.job_name, flink_master=config.flink_master,
                               parallelism=config.parallelism,
                               checkpointing_interval_ms=config.checkpointing_interval_ms,
                               worker_pool=config.worker_pool)
    args.append(f"--max_bundle_time_mills={config.max_bundle_time_ms}")
    if config.worker_pool is None and config.process_workers:
        # Evaluation is CPU-bound Python: SDK workers in threads of one process would share
        # one GIL. Beam's loopback pool starts each worker as a `python` subprocess instead.
        # Flink hands its operators (FUSED_STAGES per parallel slot) to SDK workers round-robin
        # in the order they open, which varies; with fewer workers than operators both
        # evaluators can land in one process. One worker per operator rules that out.
        args += ["--experiments=use_loopback_process_worker",
                 f"--sdk_worker_parallelism={FUSED_STAGES * config.parallelism}"]
    checkpoint_dir = config.checkpoint_dir or settings.paths.home / "checkpoints" / config.job_name
    restore = None if config.fresh else latest_checkpoint(checkpoint_dir)
    prune_other_jobs(checkpoint_dir, restore)
    master = config.flink_master or settings.flink.master
    args += checkpoint_args(checkpoint_dir, restore, embedded=master in ("[local]", "[auto]"),
                            conf_dir=settings.paths.home / "flink-conf" / config.job_name)
    return args + list(config.extra_args), restore


def run_signal_job(settings: Settings, config: SignalJobConfig, *, wait: bool = True) -> PipelineResult:
    """Builds and runs the job; blocks until stopped (SIGTERM/SIGINT cancel the Flink job,
    keeping its checkpoints) unless ``wait`` is False."""
    args, restore = pipeline_args(settings, config)
    if config.worker_pool is None and config.process_workers:
        python_first_on_path()
    if restore is not None:
        log.info("signal job %s resumes from checkpoint %s", config.job_name, restore)
    else:
        log.info("signal job %s starts without a checkpoint, reading %s from %s", config.job_name,
                 config.candles_topic, config.start)
    p = beam.Pipeline(options=PipelineOptions(args))
    build_signal_pipeline(p, config)
    result = p.run()
    if not wait:
        return result
    cancel_on_signals(result, "signal")
    try:
        result.wait_until_finish()
    finally:
        stop_worker_processes()
    return result
