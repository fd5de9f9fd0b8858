"""``python -m streaming.signals``: the live strategy engine, as stream supervisors start it.

Takes the options of ``tradestream pipeline signals`` (same names, same meaning) and builds
the job with ``SignalJobConfig.from_options``, the builder the CLI verb uses too. Runs until
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from streaming.jobs.entry import flink_master_argument, run_job_main

log = logging.getLogger("streaming.signals")


def parser() -> argparse.ArgumentParser:
    """The options; one not given is left to ``SignalJobConfig.from_options``'s default."""
    p = argparse.ArgumentParser(prog="python -m streaming.signals", argument_default=argparse.SUPPRESS,
                                description="The live strategy engine: Kafka `candles` -> strategy signals on "
                                            "Kafka `signals` (Beam on Flink), until stopped. Options as "
                                            "`tradestream pipeline signals`.")
    p.add_argument("--config", type=Path, help="live strategy config (YAML/JSON); default: every strategy with "
                                               "its defaults on 1m candles")
    p.add_argument("--flink-master", type=flink_master_argument, help="'[local]' or HOST:PORT of a session cluster")
    p.add_argument("--start", help="without a checkpoint: latest (default), earliest or committed")
    p.add_argument("--from-beginning", action="store_true", help="same as --start earliest")
    p.add_argument("--fresh", action="store_true", help="ignore retained checkpoints")
    p.add_argument("--seed", action=argparse.BooleanOptionalAction,
                   help="fill a new stream's window from the candles topic (default: --seed)")
    p.add_argument("--parallelism", type=int, help="parallel evaluators (default 2)")
    p.add_argument("--reload-interval", type=float, help="seconds between checks of the config file")
    p.add_argument("--history-hours", type=float, help="candle history the engine can seed from")
    p.add_argument("--job-name", help="Flink job name; also names the checkpoint folder")
    p.add_argument("--group", help="Kafka consumer group (offsets committed for lag monitoring)")
    p.add_argument("--engine", choices=("incremental", "window"),
                   help="incremental (default): indicators advance one bar per candle; window: the reference, "
                        "pandas-ta over each stream's window on every candle")
    p.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    return p


def _run(settings, options) -> None:
    from streaming.signals.job import SignalJobConfig, run_signal_job, runnable_live_set

    job = SignalJobConfig.from_options(settings, **options)
    active = runnable_live_set(job, lambda error: log.warning("skipped %s", error))
    log.info("signal engine: %d strategy entries from %s; %s -> %s on Flink %s, parallelism %d", len(active),
             job.live_set.path or "the default set", job.candles_topic, job.signals_topic,
             job.flink_master or settings.flink.master, job.parallelism)
    run_signal_job(settings, job)


def main(argv: Sequence[str] | None = None) -> int:
    from streaming.kafka.beam import KafkaIOError
    from streaming.signals.job import SignalJobError
    from streaming.signals.live_set import LiveConfigError
    from tradestream.runtime.jars import RuntimeSetupError

    return run_job_main(parser(), argv, _run, (SignalJobError, LiveConfigError, KafkaIOError, RuntimeSetupError))


if __name__ == "__main__":
    sys.exit(main())
