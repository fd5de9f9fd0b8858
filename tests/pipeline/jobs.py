"""Starts the candle job as a process (`python -m streaming.candles ...`) in its own process
group, with the topics and pipeline settings of a given Settings object. Used by the
end-to-end tests and the benchmark; the process (Python, its SDK workers and the job-server
JVM) can be killed as a whole, like a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from streaming.jobs.checkpoints import latest_checkpoint
from tradestream.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def job_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process load ``settings`` (topics, group, lateness, cap)."""
    k, p = settings.kafka, settings.pipeline
    extra = {"TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": k.bootstrap_servers} if k.bootstrap_servers else {}
    return {**os.environ, **extra,
            "TRADESTREAM_HOME": str(settings.paths.home),
            "TRADESTREAM_KAFKA_PORT": str(k.port), "TRADESTREAM_KAFKA_CONTROLLER_PORT": str(k.controller_port),
            "TRADESTREAM_KAFKA_TRADES_TOPIC": k.trades_topic, "TRADESTREAM_KAFKA_CANDLES_TOPIC": k.candles_topic,
            "TRADESTREAM_KAFKA_DLQ_TOPIC": k.dlq_topic, "TRADESTREAM_KAFKA_SIGNALS_TOPIC": k.signals_topic,
            "TRADESTREAM_PIPELINE_CONSUMER_GROUP": p.consumer_group,
            "TRADESTREAM_PIPELINE_ALLOWED_LATENESS_S": str(p.allowed_lateness_s),
            "TRADESTREAM_PIPELINE_FILL_FORWARD_CAP_S": str(p.fill_forward_cap_s)}


class CandleJobProcess:
    def __init__(self, settings: Settings, job_name: str, log_dir: Path, *args: str):
        self.settings = settings
        self.job_name = job_name
        self.args = args
        self.log_dir = log_dir
        self.runs = 0
        self.process: subprocess.Popen | None = None

    @property
    def checkpoint_dir(self) -> Path:
        return self.settings.paths.home / "checkpoints" / self.job_name

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.job_name}-{self.runs}.log"

    def start(self) -> CandleJobProcess:
        self.runs += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streaming.candles", "--job-name", self.job_name, *self.args],
                env=job_env(self.settings), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group: Python, its SDK workers and the job server JVM, no clean-up."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the candle job did not finish within {timeout} s; log: {self.log_path}") from None

    def wait_for_checkpoint(self, timeout: float = 120) -> Path:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = latest_checkpoint(self.checkpoint_dir)
            if found is not None:
                return found
            assert self.alive(), f"the candle job died; log: {self.log_path}\n{self.tail()}"
            time.sleep(1)
        raise AssertionError(f"no checkpoint in {self.checkpoint_dir} after {timeout} s; log: {self.log_path}")

    def checkpoints_completed(self) -> int:
        """The number of the newest complete checkpoint of this job (0 before the first): it grows while
        the job makes progress, however slow the machine, and stops when the job stalls (a stuck operator
        holds every checkpoint barrier back)."""
        found = latest_checkpoint(self.checkpoint_dir)
        return int(found.name.removeprefix("chk-")) if found is not None else 0

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(line for line in self.log_text().splitlines() if not line.startswith(" "))[-4000:]
