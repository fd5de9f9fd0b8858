"""What the jobs' module entry points share (``python -m streaming.candles``, ``python -m streaming.signals``).

Stream supervisors start a job as a module of this environment, never through the CLI;
the CLI verbs (``tradestream pipeline candles|signals``) build the same job configs with the
same builders. Here: the ``--flink-master`` check both use, and ``run_job_main``: logging as
the CLI sets it up, the settings, and expected errors as one line on stderr with exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from streaming.jobs.checkpoints import LOCAL_MASTERS
from tradestream.settings import ConfigFileError, Settings


def check_flink_master(value: str | None) -> str | None:
    """``value`` when it is '[local]', '[auto]' or HOST:PORT (None: the settings decide); ValueError otherwise."""
    if value is None or value in LOCAL_MASTERS:
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{value!r} must be '[local]' or HOST:PORT, e.g. localhost:8081")
    return value


def checked_flink_master(value: str | None, error: type[ValueError]) -> str | None:
    """``check_flink_master`` for a job's builder: ``error`` (the job's own type) names the option."""
    try:
        return check_flink_master(value)
    except ValueError as exc:
        raise error(f"--flink-master {exc}") from None


def flink_master_argument(value: str) -> str:
    """argparse type of ``--flink-master``."""
    try:
        return check_flink_master(value) or value
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run_job_main(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                 run: Callable[[Settings, dict[str, Any]], object],
                 expected: tuple[type[BaseException], ...]) -> int:
    """Parses ``argv`` (options not given stay out of the dict ``run`` receives, so the job's
    builder supplies its own defaults), loads the settings and runs the job; 0 on success."""
    options = vars(parser.parse_args(argv))
    verbose = options.pop("verbose", False)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Beam reports every string type hint it cannot resolve at INFO; keep the log for the job's own news
    logging.getLogger("apache_beam.typehints").setLevel(logging.WARNING)
    try:
        settings = Settings.load()
        run(settings, options)
    except (ValidationError, ConfigFileError, *expected) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0
