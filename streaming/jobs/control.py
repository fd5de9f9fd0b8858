"""Running a Beam job on Flink from this process: the SDK worker processes and stop signals.

Shared by the candle and the signal job (``run_candle_job``, ``run_signal_job``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import psutil
from apache_beam.runners.runner import PipelineResult

log = logging.getLogger(__name__)


def python_first_on_path() -> None:
    """Beam's loopback pool starts process workers as plain `python`: make that this interpreter."""
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + path


def stop_worker_processes(timeout_s: float = 10.0) -> None:
    """Stop the SDK worker processes the loopback pool started for this job. Beam's own atexit
    hook cannot do it on Python 3.12 (no new threads during interpreter shutdown)."""
    workers = [child for child in psutil.Process().children()
               if "SdkHarness" in " ".join(_cmdline(child))]
    for worker in workers:
        worker.terminate()
    _, alive = psutil.wait_procs(workers, timeout=timeout_s)
    for worker in alive:
        worker.kill()


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def cancel_on_signals(result: PipelineResult, job: str) -> None:
    """SIGTERM/SIGINT cancel the Flink job (its retained checkpoints stay) and exit 128 + signal."""
    def stop(signum, _frame):
        log.info("signal %s: cancelling the %s job (checkpoints are kept)", signum, job)
        try:
            result.cancel()
        finally:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def run_until_stopped(result: PipelineResult, job: str) -> PipelineResult:
    """Waits for a streaming job until SIGTERM/SIGINT cancel it; then stops its SDK worker processes."""
    cancel_on_signals(result, job)
    try:
        result.wait_until_finish()
    finally:
        stop_worker_processes()
    return result
