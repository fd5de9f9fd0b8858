"""The stream-supervisor contract.

Dagster's streaming assets call ``ensure`` (start, or confirm it already runs with the
same config), the supervisor sensor calls ``status``, and ``stop`` ends a stream. A
backend hides where streams run: ``LocalProcessBackend`` for `make run` and tests,
``KubernetesBackend`` for Helm installs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, runtime_checkable

StreamKind = Literal["process", "beam"]

#: The first word of a command that runs a module of this environment's Python: the local
#: backend runs it with its own interpreter (``sys.executable``), a pod with the image's.
PYTHON = "python"


def module_command(module: str, *args: str) -> tuple[str, ...]:
    """The command line that runs ``python -m <module> args``, e.g. ``module_command("streaming.candles")``."""
    return (PYTHON, "-m", module, *args)


@dataclass(frozen=True)
class StreamSpec:
    """What to run for one stream. ``config`` is what makes two runs "the same stream"."""

    name: str                      # "trades_stream", "candles_stream", "signals_stream"
    kind: StreamKind               # "process" (ingestion) or "beam" (a Beam job on Flink)
    argv: tuple[str, ...]          # command line, e.g. module_command("streaming.candles", "--mode", "stream")
    env: dict[str, str] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    #: the component whose Kafka user the stream connects as (streaming.kafka.access), e.g. "candles";
    #: on Kubernetes its credentials come from that user's Secret
    kafka_user: str | None = None

    @property
    def config_hash(self) -> str:
        payload = json.dumps({"argv": list(self.argv), "env": self.env, "config": self.config,
                              "kafka_user": self.kafka_user}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "argv": list(self.argv), "config_hash": self.config_hash},
                          sort_keys=True, default=str)


@dataclass
class StreamHandle:
    name: str
    config_hash: str
    started: bool                  # False when an identical stream was already running
    location: str                  # "pid 4242", "flink job <id>", "deployment/ns/name"
    ui_url: str | None = None
    pid: int | None = None
    replaced: bool = False         # a stream with another config was stopped first


@dataclass
class StreamStatus:
    name: str
    alive: bool
    config_hash: str | None = None
    location: str | None = None
    pid: int | None = None
    started_at: float | None = None
    exit_code: int | None = None
    log_path: str | None = None
    ui_url: str | None = None
    detail: str = ""
    last_log_lines: list[str] = field(default_factory=list)


@runtime_checkable
class SupervisorBackend(Protocol):
    def ensure(self, spec: StreamSpec) -> StreamHandle: ...

    def status(self, name: str) -> StreamStatus: ...

    def stop(self, name: str) -> bool: ...
