"""Where optimization studies persist: Optuna journal files, written a batch at a time.

Optuna's ``JournalFileBackend`` fsyncs every log line (six or so per trial), which made
the journal, not the backtests, the cost of a search. ``BufferedJournalBackend`` keeps
the log in memory and appends it to the same file format with one fsync per ``flush()``
(after each batch of trials), so a study file stays readable by plain Optuna and a crash
loses at most the batch in flight. One process owns a study at a time; an advisory lock
on ``<file>.owner`` enforces it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend
from optuna.trial import TrialState

from tradestream.backtest.errors import BacktestInputError


class BufferedJournalBackend(BaseJournalBackend):
    """An Optuna journal in memory, appended to a ``JournalFileBackend`` file on ``flush()``."""

    def __init__(self, path: Path):
        self._file = JournalFileBackend(str(path))
        self._logs: list[dict[str, Any]] = list(self._file.read_logs(0))
        self._persisted = len(self._logs)

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        yield from self._logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._logs.extend(logs)

    def flush(self) -> None:
        if self._persisted < len(self._logs):
            self._file.append_logs(self._logs[self._persisted:])
            self._persisted = len(self._logs)


def storage_file(directory: Path, study_name: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", study_name)
    return Path(directory).expanduser() / f"{slug}.journal"


class StudyHandle:
    """An open study with its journal; ``flush()`` persists, ``close()`` releases the owner lock."""

    def __init__(self, study: optuna.Study, backend: BufferedJournalBackend, lock: IO[str], resumed: int):
        self.study = study
        self.backend = backend
        self._lock = lock
        self.resumed = resumed

    def flush(self) -> None:
        self.backend.flush()

    def close(self) -> None:
        self.backend.flush()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def __enter__(self) -> StudyHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_study(path: Path, study_name: str, sampler: optuna.samplers.BaseSampler, description: Mapping[str, Any],
               fresh: bool = False) -> StudyHandle:
    """Create or load a study (maximizing); count the trials it already completed.

    Trials a dead process left RUNNING are marked FAIL. A study recorded with a different
    description (space, method, trading assumptions ...) is refused rather than mixed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(path.with_name(path.name + ".owner"), "w")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise BacktestInputError(
            f"study {study_name!r} ({path}) is being optimized by another process; wait for it or use another "
            "study name") from None
    if fresh:
        for stale in (path, path.with_name(path.name + ".lock")):
            if stale.exists():
                os.unlink(stale)
    backend = BufferedJournalBackend(path)
    study = optuna.create_study(storage=JournalStorage(backend), study_name=study_name, sampler=sampler,
                                direction="maximize", load_if_exists=True)
    wanted = json.loads(json.dumps(dict(description), default=str))
    recorded = study.user_attrs.get("tradestream")
    if recorded is None:
        study.set_user_attr("tradestream", wanted)
    elif recorded != wanted:
        changed = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        raise BacktestInputError(
            f"study {study_name!r} in {path} was run with different settings ({', '.join(changed)}); "
            "use another study name or start it over (fresh=True / --fresh)")
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    backend.flush()
    resumed = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    return StudyHandle(study, backend, lock, resumed)
