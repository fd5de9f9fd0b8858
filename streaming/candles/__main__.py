"""``python -m streaming.candles``: the candle job, as stream supervisors start it.

Takes the options of ``tradestream pipeline candles`` (same names, same meaning) and builds
the job with ``CandleJobConfig.from_options``, the builder the CLI verb uses too. Stream
mode runs until SIGTERM/SIGINT; batch mode exits when the range is processed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from streaming.jobs.entry import flink_master_argument, run_job_main

SUPPRESS = argparse.SUPPRESS


def parser() -> argparse.ArgumentParser:
    """The options; one not given is left to ``CandleJobConfig.from_options``'s default."""
    p = argparse.ArgumentParser(prog="python -m streaming.candles", argument_default=SUPPRESS,
                                description="The candle job: Kafka `trades` -> 1m..1d candles on Kafka `candles` "
                                            "(Beam on Flink). Options as `tradestream pipeline candles`.")
    p.add_argument("--mode", choices=("stream", "batch"), help="stream (default): run until stopped, resuming from "
                                                               "checkpoints; batch: process a range and exit")
    p.add_argument("--from", dest="from_", metavar="TIME", help="batch: first window start (UTC minute)")
    p.add_argument("--to", metavar="TIME", help="batch: windows end at or before this UTC minute")
    p.add_argument("--flink-master", type=flink_master_argument, help="'[local]' or HOST:PORT of a session cluster")
    p.add_argument("--parallelism", type=int, help="Flink parallelism (default: settings)")
    p.add_argument("--sdk-workers", type=int, help="Python SDK worker processes (1: threads of this process)")
    p.add_argument("--checkpoint-interval-ms", type=int, help="stream: Flink checkpoint interval")
    p.add_argument("--start", choices=("earliest", "latest", "committed"),
                   help="stream without a checkpoint: where to start reading `trades`")
    p.add_argument("--fresh", action="store_true", help="stream: ignore and delete retained checkpoints")
    p.add_argument("--job-name", help="names the Flink job and its checkpoint folder")
    p.add_argument("--allowed-lateness-s", dest="lateness_s", type=int, help="default: pipeline settings")
    p.add_argument("--fill-forward-cap-s", dest="fill_cap_s", type=int, help="default: pipeline settings")
    p.add_argument("--watermark-lag-s", type=float, help="event-time disorder tolerated before a trade is late")
    p.add_argument("--idle-timeout-s", type=float, help="a partition at its end this long stops holding the watermark")
    p.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    return p


def _run(settings, options) -> None:
    from streaming.candles.job import CandleJobConfig, run_candle_job

    run_candle_job(settings, CandleJobConfig.from_options(settings, **options))


def main(argv: Sequence[str] | None = None) -> int:
    from streaming.candles.job import CandleJobError
    from streaming.kafka.beam import KafkaIOError
    from tradestream.runtime.jars import RuntimeSetupError

    return run_job_main(parser(), argv, _run, (CandleJobError, KafkaIOError, RuntimeSetupError))


if __name__ == "__main__":
    sys.exit(main())
