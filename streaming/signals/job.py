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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult

from streaming.jobs.checkpoints import resume_args
from streaming.jobs.control import python_first_on_path, run_until_stopped
from streaming.jobs.entry import checked_flink_master
from streaming.kafka.beam import ReaderSettings, ReadFromKafka, StartPolicy, WriteToKafka
from streaming.kafka.clients import KafkaClientConfig
from streaming.signals.engine import DEFAULT_ENGINE, DEFAULT_SNAPSHOT_EVERY, Engine, check_engine
from streaming.signals.history import KafkaCandleHistory
from streaming.signals.live_set import DEFAULT_RELOAD_INTERVAL_S, LiveSetSpec, load_live_set
from streaming.signals.transforms import DLQ_TAG, DecodeCandles, EngineOptions, EvaluateStrategies
from tradestream.runtime.beam import flink_pipeline_args
from tradestream.settings import Settings
from tradestream.strategies.config import ActiveStrategySet

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
    kafka: KafkaClientConfig              # the cluster; its repr never shows the SASL password
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
    checkpoint_dir: Path | None = None    # default <state root>/checkpoints/<job_name> (jobs.checkpoints)
    fresh: bool = False                   # ignore retained checkpoints
    warm_up: bool = True
    engine: Engine = DEFAULT_ENGINE       # incremental indicators, or the window reference (pandas-ta per candle)
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: Settings, config_path: str | Path | None = None, *,
                      reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S, history_hours: float | None = None,
                      **overrides) -> SignalJobConfig:
        """The job for ``settings``; ``config_path`` None runs the default strategy set."""
        k = settings.kafka
        hours = float(history_hours if history_hours is not None else k.retention_hours)
        live_set = LiveSetSpec.from_file(config_path, history_hours=hours, reload_interval_s=reload_interval_s)
        config = cls(kafka=KafkaClientConfig.from_settings(k), candles_topic=k.candles_topic,
                     signals_topic=k.signals_topic, dlq_topic=k.dlq_topic, live_set=live_set)
        return replace(config, **overrides).validated()

    @classmethod
    def from_options(cls, settings: Settings, *, config: str | Path | None = None, flink_master: str | None = None,
                     start: str = "latest", from_beginning: bool = False, fresh: bool = False, seed: bool = True,
                     parallelism: int = 2, reload_interval: float = DEFAULT_RELOAD_INTERVAL_S,
                     history_hours: float | None = None, job_name: str = DEFAULT_JOB_NAME,
                     group: str = DEFAULT_CONSUMER_GROUP, engine: str = DEFAULT_ENGINE) -> SignalJobConfig:
        """The job a command line asks for: the options of `tradestream pipeline signals` and of
        `python -m streaming.signals`, by their parameter names there. The SDK worker pool is the
        settings' (``TRADESTREAM_FLINK_WORKER_POOL``, set by the Kubernetes stream supervisor)."""
        if from_beginning:
            if start not in ("latest", "earliest"):
                raise SignalJobError(f"--from-beginning contradicts --start {start}; give one of them")
            start = "earliest"
        if start not in START_POLICIES:
            raise SignalJobError(f"--start {start!r} is not one of {', '.join(START_POLICIES)}")
        return cls.from_settings(
            settings, config, reload_interval_s=reload_interval, history_hours=history_hours, start=start,
            fresh=fresh, seed_from_topic=seed, parallelism=parallelism, job_name=job_name, consumer_group=group,
            engine=check_engine(engine, SignalJobError),
            flink_master=checked_flink_master(flink_master, SignalJobError),
            worker_pool=settings.flink.worker_pool or None)

    def validated(self) -> SignalJobConfig:
        if self.start not in START_POLICIES:
            raise SignalJobError(f"start policy {self.start!r} must be one of {', '.join(START_POLICIES)}")
        if self.parallelism < 1:
            raise SignalJobError(f"parallelism {self.parallelism} must be at least 1")
        check_engine(self.engine, SignalJobError)
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
        history = KafkaCandleHistory(self.kafka, self.candles_topic) if self.seed_from_topic else None
        return EngineOptions(self.live_set, history, self.snapshot_every, self.warm_up, self.engine)


def runnable_live_set(config: SignalJobConfig, skipped: Callable[[str], None]) -> ActiveStrategySet:
    """The strategy entries the job will run; ``skipped`` hears why each unusable entry is left out.
    SignalJobError when none is usable, LiveConfigError when the config cannot be read at all."""
    active, errors = load_live_set(config.live_set)
    for error in errors:
        skipped(error)
    if not active.entries:
        raise SignalJobError(f"strategy config {config.live_set.path} has no usable entry; fix the entries above")
    return active


def build_signal_pipeline(p: beam.Pipeline, config: SignalJobConfig) -> None:
    """Adds read -> decode -> evaluate -> write to ``p``."""
    # Latency matters more than batching here: poll often, hand over small batches.
    reader = ReaderSettings(kafka=config.kafka, group_id=config.consumer_group, max_poll_s=0.2,
                            empty_poll_delay_s=0.05)
    batches = p | "ReadCandles" >> ReadFromKafka(config.candles_topic, reader, start=config.start)
    # The window engine splits a stream's strategies into frame-bucket shards; the incremental
    # engine's cost per stream does not depend on windows: one key per stream.
    sharding = config.live_set.history_hours if config.engine == "window" else None
    decoded = batches | "DecodeCandles" >> DecodeCandles(sharding, config.parallelism)
    (decoded["candles"]
     | "EvaluateStrategies" >> EvaluateStrategies(config.engine_options())
     | "WriteSignals" >> WriteToKafka(config.signals_topic, config.kafka))
    decoded[DLQ_TAG] | "WriteDeadLetters" >> WriteToKafka(config.dlq_topic, config.kafka)


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
    resume, restore = resume_args(settings, job_name=config.job_name, checkpoint_dir=config.checkpoint_dir,
                                  fresh=config.fresh, flink_master=config.flink_master)
    return args + resume + list(config.extra_args), restore


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
    return run_until_stopped(result, "signal")
