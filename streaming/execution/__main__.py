"""``python -m streaming.execution``: the executor, as the stream supervisor and the Helm chart start it.

Paper trading by default. Live orders need all of: ``--mode live``, the account on the
allow-list (``--live-account``, repeatable), ``mode: live`` in its accounts file entry and a
CDP API key in the environment or the mounted Secret. Every other setting comes from the
environment (``TRADESTREAM_EXECUTION_*``, ``TRADESTREAM_KAFKA_*``) or the config file. Runs
until SIGTERM/SIGINT, then commits what it processed and exits 0; exit code 1 on an error
that stops it (the message says what to do).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from streaming.execution.snapshots import SnapshotError
from streaming.execution.stream import ExecutionConfig, ExecutionStream, ExecutionStreamError
from streaming.kafka.ranges import KafkaRangeError
from tradestream.execution import AccountsConfigError
from tradestream.settings import ConfigFileError, Settings

log = logging.getLogger("streaming.execution")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m streaming.execution",
        description="The executor: Kafka `signals` (and `trades`, `risk.commands`) -> risk engine -> orders, fills, "
                    "positions, risk events on Kafka, exactly once (Kafka transactions). Paper trading unless "
                    "--mode live and --live-account say otherwise.",
        epilog="Other settings: TRADESTREAM_EXECUTION_* (docs/execution.md) and TRADESTREAM_KAFKA_*.")
    p.add_argument("--accounts", type=Path, help="accounts file (YAML); default the setting, else the paper "
                                                 "account of tradestream/execution/default_accounts.yaml")
    p.add_argument("--mode", choices=["paper", "live"], help="paper (default) or live")
    p.add_argument("--live-account", action="append", dest="live_accounts", metavar="NAME",
                   help="allow this account to place live orders (repeat for several); only with --mode live")
    p.add_argument("--clock", choices=["auto", "wall", "event"],
                   help="the executor's now: wall clock or event time (default auto: wall when live)")
    p.add_argument("--start", choices=["latest", "earliest"],
                   help="first start only: read signals and trades from the end (default) or the beginning")
    p.add_argument("--group", help="consumer group, transactional id and snapshot key (default tradestream-execution)")
    p.add_argument("--commit-interval-ms", type=float,
                   help="how long a transaction with orders or fills collects more records (default 0)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--verbose", "-v", action="store_true", help="log debug messages")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)  # a line per request
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        log.info("signal %d: committing what was processed, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        settings = Settings.load()
        if args.live_accounts and (args.mode or settings.execution.mode) != "live":
            raise ExecutionStreamError("--live-account only applies with --mode live")
        config = ExecutionConfig.from_settings(settings, accounts=args.accounts, mode=args.mode,
                                               live_accounts=args.live_accounts, clock=args.clock, start=args.start,
                                               group=args.group, commit_interval_ms=args.commit_interval_ms)
        stream = ExecutionStream(config, settings)
        port = args.metrics_port or settings.execution.metrics_port
        if port:
            from streaming.execution.metrics import serve_metrics

            serve_metrics(stream, port)
        stream.run(stop)
    except (ExecutionStreamError, AccountsConfigError, SnapshotError, KafkaRangeError, ValidationError,
            ConfigFileError, OSError) as exc:
        print(f"python -m streaming.execution: error: {exc}", file=sys.stderr)
        return 1
    log.info("stopped: %s", stream.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
