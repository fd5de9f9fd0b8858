"""The candle job: Kafka ``trades`` -> Beam on Flink -> Kafka ``candles`` (+ ``trades.dlq``).

Stream mode runs until stopped, checkpointing every ``checkpointing_interval_ms`` and
resuming from the newest retained checkpoint when started again. Batch mode reads
``trades`` from the first record that can hold a trade of the range up to the end offsets
at start, keeps the trades whose event time is in the range, runs the same transforms and
exits when done. docs/candles.md explains the semantics.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineResult, PipelineState

from streaming.candles.transforms import DLQ_TAG, BuildCandles, DecodeTrades, EncodeCandles, parse_trade
from streaming.jobs.checkpoints import resume_args
from streaming.jobs.control import python_first_on_path, run_until_stopped
from streaming.jobs.entry import checked_flink_master
from streaming.kafka.beam import ReaderSettings, ReadFromKafka, StartPolicy, WriteToKafka
from streaming.kafka.clients import KafkaClientConfig
from tradestream.candles.windows import higher_timeframes
from tradestream.runtime.beam import flink_pipeline_args
from tradestream.settings import Settings
from tradestream.timeframes import MINUTE_NS, NS_PER_MS, NS_PER_SECOND

log = logging.getLogger(__name__)

Mode = Literal["stream", "batch"]
MODES: tuple[str, ...] = ("stream", "batch")
START_POLICIES: tuple[str, ...] = ("earliest", "latest", "committed")
DEFAULT_JOB_NAME = "tradestream-candles"


class CandleJobError(ValueError):
    """The job's configuration is inconsistent. The message names the value and the fix."""


class CandleOptionError(CandleJobError):
    """A command-line option's value is not one the job accepts (a usage error)."""


@dataclass(frozen=True)
class CandleJobConfig:
    mode: Mode
    kafka: KafkaClientConfig              # the cluster; its repr never shows the SASL password
    trades_topic: str
    candles_topic: str
    dlq_topic: str
    consumer_group: str
    timeframes: tuple[str, ...]
    allowed_lateness_s: int
    fill_forward_cap_s: int
    watermark_lag_s: float = 2.0
    idle_timeout_s: float = 5.0
    live_horizon_s: float = 120.0
    start: StartPolicy = "earliest"       # stream mode without a checkpoint to resume from
    from_ns: int | None = None            # batch: first window start (whole minute)
    to_ns: int | None = None              # batch: windows end at or before (whole minute); default now
    margin_s: int = 300                   # batch: clock skew allowed between trade and record times
    readers: int = 1
    job_name: str = DEFAULT_JOB_NAME
    flink_master: str | None = None
    parallelism: int | None = None
    checkpointing_interval_ms: int | None = None
    max_bundle_time_ms: int = 250
    sdk_workers: int = 1                  # >1: that many Python worker processes (one GIL each) instead of threads
    checkpoint_dir: Path | None = None    # stream mode; default <state root>/checkpoints/<job_name>
    fresh: bool = False                   # stream mode: ignore retained checkpoints
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, settings: Settings, mode: Mode, **overrides) -> CandleJobConfig:
        k, p = settings.kafka, settings.pipeline
        config = cls(mode=mode, kafka=KafkaClientConfig.from_settings(k), trades_topic=k.trades_topic,
                     candles_topic=k.candles_topic,
                     dlq_topic=k.dlq_topic, consumer_group=p.consumer_group, timeframes=tuple(p.timeframes),
                     allowed_lateness_s=p.allowed_lateness_s, fill_forward_cap_s=p.fill_forward_cap_s)
        return replace(config, **overrides).validated()

    @classmethod
    def from_options(cls, settings: Settings, *, mode: str = "stream", from_: str | None = None,
                     to: str | None = None, flink_master: str | None = None, parallelism: int | None = None,
                     sdk_workers: int = 1, checkpoint_interval_ms: int | None = None, start: str = "earliest",
                     fresh: bool = False, job_name: str = DEFAULT_JOB_NAME, lateness_s: int | None = None,
                     fill_cap_s: int | None = None, watermark_lag_s: float = 2.0,
                     idle_timeout_s: float = 5.0) -> CandleJobConfig:
        """The job a command line asks for: the options of `tradestream pipeline candles` and of
        `python -m streaming.candles`, by their parameter names there. None: the settings decide."""
        if mode not in MODES:
            raise CandleOptionError(f"--mode {mode!r} must be 'stream' or 'batch'")
        if start not in START_POLICIES:
            raise CandleOptionError(f"--start {start!r} must be earliest, latest or committed")
        overrides = {"from_ns": parse_minute(from_, "--from"), "to_ns": parse_minute(to, "--to"),
                     "flink_master": checked_flink_master(flink_master, CandleOptionError),
                     "parallelism": parallelism, "sdk_workers": sdk_workers,
                     "checkpointing_interval_ms": checkpoint_interval_ms, "start": start, "fresh": fresh,
                     "job_name": job_name, "watermark_lag_s": watermark_lag_s, "idle_timeout_s": idle_timeout_s}
        if lateness_s is not None:
            overrides["allowed_lateness_s"] = lateness_s
        if fill_cap_s is not None:
            overrides["fill_forward_cap_s"] = fill_cap_s
        return cls.from_settings(settings, mode, **overrides)  # type: ignore[arg-type]

    def validated(self) -> CandleJobConfig:
        if self.mode not in ("stream", "batch"):
            raise CandleJobError(f"mode {self.mode!r} must be 'stream' or 'batch'")
        if "1m" not in self.timeframes:
            raise CandleJobError(f"timeframes {list(self.timeframes)} must include the base timeframe '1m'")
        higher_timeframes(self.timeframes)  # raises on unknown names
        if self.sdk_workers < 1:
            raise CandleJobError(f"sdk_workers={self.sdk_workers} must be at least 1")
        if self.watermark_lag_s < 0 or self.idle_timeout_s <= 0:
            raise CandleJobError(f"watermark lag {self.watermark_lag_s} s must be >= 0 and idle timeout "
                                 f"{self.idle_timeout_s} s > 0")
        if self.mode == "stream" and (self.from_ns is not None or self.to_ns is not None):
            raise CandleJobError("--from/--to select a range for batch mode; stream mode reads from its checkpoint "
                                 "or --start")
        for name, value in (("--from", self.from_ns), ("--to", self.to_ns)):
            if value is not None and value % MINUTE_NS:
                raise CandleJobError(f"{name} {value} ns is not a whole UTC minute; round it to the minute")
        if self.from_ns is not None and self.to_ns is not None and self.from_ns >= self.to_ns:
            raise CandleJobError(f"--from ({self.from_ns} ns) must be before --to ({self.to_ns} ns)")
        return self


def parse_minute(value: str | None, option: str) -> int | None:
    """A UTC time given as ISO-8601 or epoch seconds, as ns; it must be a whole minute."""
    if value is None:
        return None
    text = value.strip()
    try:
        if text.lstrip("-").isdigit():
            ns = int(text) * NS_PER_SECOND
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            ns = int(moment.timestamp()) * NS_PER_SECOND + moment.microsecond * 1000
    except ValueError:
        raise CandleOptionError(f"{option} {value!r} is not a time; use ISO-8601 UTC like 2024-05-01T13:00 or "
                             "epoch seconds") from None
    if ns % MINUTE_NS:
        raise CandleOptionError(f"{option} {value!r} is not a whole minute; candles start on UTC minutes")
    return ns


def build_candle_pipeline(p: beam.Pipeline, config: CandleJobConfig) -> None:
    """Adds read -> decode -> candles (fold, publish, fill, roll up) -> write to ``p``."""
    batch = config.mode == "batch"
    reader = ReaderSettings(kafka=config.kafka, group_id=config.consumer_group, parse=parse_trade,
                            watermark_lag_s=config.watermark_lag_s,
                            idle_timeout_s=config.idle_timeout_s, live_horizon_s=config.live_horizon_s,
                            commit_offsets=not batch, emit_watermark=not batch)
    until_ns = config.to_ns
    if batch:
        until_ns = until_ns if until_ns is not None else time.time_ns() // MINUTE_NS * MINUTE_NS
        # A record is written after its trade happened (record time >= event time, up to clock skew,
        # also for replays), so records older than `from` - margin cannot hold trades of the range.
        # The other end is not bounded by record time: a replay writes old trades late.
        start = "earliest" if config.from_ns is None else config.from_ns // NS_PER_MS - config.margin_s * 1000
        read = ReadFromKafka(config.trades_topic, reader, start=start, stop="end", readers=config.readers)
    else:
        read = ReadFromKafka(config.trades_topic, reader, start=config.start, readers=config.readers)

    batches = p | "ReadTrades" >> read
    decoded = batches | "DecodeTrades" >> DecodeTrades(config.allowed_lateness_s, config.from_ns, until_ns)
    (decoded["trades"]
     | "BuildCandles" >> BuildCandles(config.timeframes, config.allowed_lateness_s, config.fill_forward_cap_s,
                                      fill_until_ns=until_ns if batch else None, emit_from_ns=config.from_ns)
     | "EncodeCandles" >> EncodeCandles()
     | "WriteCandles" >> WriteToKafka(config.candles_topic, config.kafka))
    (decoded[DLQ_TAG]
     | "WriteDeadLetters" >> WriteToKafka(config.dlq_topic, config.kafka))


def pipeline_args(settings: Settings, config: CandleJobConfig) -> tuple[list[str], Path | None]:
    """FlinkRunner options for the job, and the checkpoint it resumes from (stream mode)."""
    streaming = config.mode == "stream"
    args = flink_pipeline_args(settings, streaming=streaming, job_name=config.job_name,
                               flink_master=config.flink_master, parallelism=config.parallelism,
                               checkpointing_interval_ms=config.checkpointing_interval_ms)
    # Bundles close at least every max_bundle_time: candles leave within that of their window's end.
    # The SDK's cross-bundle state cache stays off: it re-measures a cached bag's deep size on every
    # append (objsize), which made the trade bags cost O(n) per trade.
    args.append(f"--max_bundle_time_mills={config.max_bundle_time_ms}")
    if _process_workers(settings, config):
        # The stages are Python: in one process they share one GIL. Beam's loopback pool can start
        # the SDK workers as `python` subprocesses instead; Flink binds each stage to one of them.
        args += ["--experiments=use_loopback_process_worker", f"--sdk_worker_parallelism={config.sdk_workers}"]
    restore = None
    if streaming:
        resume, restore = resume_args(settings, job_name=config.job_name, checkpoint_dir=config.checkpoint_dir,
                                      fresh=config.fresh, flink_master=config.flink_master)
        args += resume
    return args + list(config.extra_args), restore


def run_candle_job(settings: Settings, config: CandleJobConfig, *, wait: bool = True) -> PipelineResult:
    """Builds and runs the job. Stream mode blocks until stopped (SIGTERM/SIGINT cancel the
    Flink job, keeping its checkpoints); batch mode returns when the range is processed."""
    args, restore = pipeline_args(settings, config)
    if _process_workers(settings, config):
        python_first_on_path()
    if restore is not None:
        log.info("candle job %s resumes from checkpoint %s", config.job_name, restore)
    else:
        log.info("candle job %s starts without a checkpoint (%s)", config.job_name,
                 f"range {config.from_ns}..{config.to_ns}" if config.mode == "batch" else f"from {config.start}")
    p = beam.Pipeline(options=PipelineOptions(args))
    build_candle_pipeline(p, config)
    result = p.run()
    if not wait:
        return result
    if config.mode == "batch":
        state = result.wait_until_finish()
        if state != PipelineState.DONE:
            raise RuntimeError(f"candle batch job ended in state {state}; see the log above for the failing step")
        return result
    return run_until_stopped(result, "candle")


def _process_workers(settings: Settings, config: CandleJobConfig) -> bool:
    """Whether the job runs its SDK workers as `python` subprocesses of the loopback pool."""
    return config.sdk_workers > 1 and settings.flink.worker_pool is None
