"""A key's persistent state in the signal job, and the engine's view of it.

``SignalEngine`` reads and writes each key's state through ``KeyState``: Beam state cells
in the job (``BeamKeyState``), plain attributes outside Beam (``MemoryKeyState``: tests,
benchmarks). What is kept and why is in the engine's module docstring.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from streaming.signals.decoding import CandleUpdate


class KeyState(Protocol):
    """One key's persistent state (Beam state in the job)."""

    def read_meta(self) -> dict[str, int] | None: ...
    def write_meta(self, meta: dict[str, int]) -> None: ...
    def read_snapshot(self) -> dict[str, Any] | None: ...
    def write_snapshot(self, snapshot: dict[str, Any]) -> None: ...
    def read_recent(self) -> Iterable[CandleUpdate]: ...
    def add_recent(self, update: CandleUpdate) -> None: ...
    def clear_recent(self) -> None: ...


@dataclass
class MemoryKeyState:
    """KeyState in plain attributes: for running the engine outside Beam (tests, benchmarks)."""

    meta: dict[str, int] | None = None
    snapshot: dict[str, Any] | None = None
    recent: list[CandleUpdate] = dataclasses.field(default_factory=list)

    def read_meta(self) -> dict[str, int] | None:
        return None if self.meta is None else dict(self.meta)

    def write_meta(self, meta: dict[str, int]) -> None:
        self.meta = dict(meta)

    def read_snapshot(self) -> dict[str, Any] | None:
        return self.snapshot

    def write_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def read_recent(self) -> Iterable[CandleUpdate]:
        return list(self.recent)

    def add_recent(self, update: CandleUpdate) -> None:
        self.recent.append(update)

    def clear_recent(self) -> None:
        self.recent.clear()


class BeamKeyState:
    """``KeyState`` over the signal DoFn's Beam state cells of the current key (``EvaluateStrategiesFn``)."""

    def __init__(self, meta, snapshot, recent):
        self._meta, self._snapshot, self._recent = meta, snapshot, recent

    def read_meta(self) -> dict[str, int] | None:
        return self._meta.read()

    def write_meta(self, meta: dict[str, int]) -> None:
        self._meta.write(meta)

    def read_snapshot(self) -> dict[str, Any] | None:
        return self._snapshot.read()

    def write_snapshot(self, snapshot: dict[str, Any]) -> None:
        self._snapshot.write(snapshot)

    def read_recent(self) -> Iterable[CandleUpdate]:
        return self._recent.read()

    def add_recent(self, update: CandleUpdate) -> None:
        self._recent.add(update)

    def clear_recent(self) -> None:
        self._recent.clear()
