"""The active strategy set the live engine runs, and its reloading.

The set comes from ``tradestream.strategies.config`` (a YAML/JSON file, or every strategy
with its default parameters on 1m candles when there is no file). On top of the library's
checks (unknown strategy, parameter out of range or breaking a constraint) the engine
refuses entries it could never evaluate exactly: a strategy whose window (look-back plus
the bars its recursive indicators need to converge) is longer than the candle history
the engine can obtain on a timeframe, i.e. the retention of the ``candles`` topic it
seeds from. Bad entries are logged and skipped; the rest runs.

``LiveSetWatcher`` re-reads the file when its content changes (checked at most every
``reload_interval_s``, on the engine's own thread: no watcher threads in a Beam worker).
A file that turns unreadable or unparsable keeps the running set and says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tradestream.strategies.config import ActiveStrategySet, load_active_set
from tradestream.timeframes import MINUTE_NS, TIMEFRAME_NS

log = logging.getLogger(__name__)

DEFAULT_RELOAD_INTERVAL_S = 2.0


class LiveConfigError(ValueError):
    """The strategy config cannot be used at all (missing, unparsable). The message names the file."""


@dataclass(frozen=True)
class LiveSetSpec:
    """Where the active set comes from. Picklable: it travels with the pipeline to the workers.

    ``text`` is the file's content when the job was submitted: a worker that cannot see
    ``path`` (a Flink TaskManager on another host) runs that content and cannot reload.
    """

    path: str | None = None
    text: str | None = None
    history_hours: float = 168.0
    reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S

    @classmethod
    def from_file(cls, path: str | Path | None, *, history_hours: float,
                  reload_interval_s: float = DEFAULT_RELOAD_INTERVAL_S) -> LiveSetSpec:
        """A spec for ``path`` (None: the default set), carrying the file's current content."""
        if path is None:
            return cls(None, None, history_hours, reload_interval_s)
        file = Path(path).resolve()
        try:
            text = file.read_text()
        except OSError as exc:
            raise LiveConfigError(f"strategy config {file} cannot be read ({exc.strerror or exc}); create it "
                                  "or run without --config for the default set (every strategy, default "
                                  "parameters, 1m)") from None
        return cls(str(file), text, history_hours, reload_interval_s)


def history_candles(timeframe: str, history_hours: float) -> int:
    """Candles of ``timeframe`` in ``history_hours`` of history."""
    return int(history_hours * 60 * MINUTE_NS // TIMEFRAME_NS[timeframe])


def limit_to_history(active: ActiveStrategySet, history_hours: float) -> tuple[ActiveStrategySet, list[str]]:
    """Drop (entry, timeframe) pairs whose window needs more candles than the history holds.

    An entry keeps the timeframes it fits on; each dropped one gives an error naming the
    strategy, its parameters, the candles it needs and the candles available.
    """
    kept = []
    errors: list[str] = []
    for entry in active:
        fits = []
        for timeframe in entry.timeframes:
            available = history_candles(timeframe, history_hours)
            if entry.window <= available:
                fits.append(timeframe)
                continue
            params = ", ".join(f"{name}={value}" for name, value in entry.params.items()) or "no parameters"
            errors.append(
                f"{entry.strategy} ({params}) on {timeframe}: too few candles for its look-back; it needs "
                f"{entry.window} candles (look-back {entry.lookback} bars plus {entry.window - entry.lookback} for "
                f"its indicators to converge) but the {history_hours:g} h of candle history the engine can seed "
                f"from hold {available} {timeframe} candles; skipped on {timeframe} (choose shorter periods or "
                "raise --history-hours together with the candles topic's retention)")
        if len(fits) == len(entry.timeframes):
            kept.append(entry)
        elif fits:
            kept.append(dataclasses.replace(entry, timeframes=tuple(fits)))
    return ActiveStrategySet.of(kept), errors


def load_live_set(spec: LiveSetSpec) -> tuple[ActiveStrategySet, list[str]]:
    """(the runnable set, why each skipped entry was skipped). LiveConfigError when nothing can run."""
    if spec.path is None and spec.text is None:
        active, entry_errors = ActiveStrategySet.default(), []
    elif spec.path is not None and Path(spec.path).is_file():
        try:
            active, entry_errors = load_active_set(spec.path)
        except (OSError, ValueError, TypeError) as exc:
            raise LiveConfigError(str(exc)) from None
    elif spec.text is not None:
        # A worker without the file (another host) runs the content submitted with the job.
        try:
            active, entry_errors = ActiveStrategySet.from_dict(yaml.safe_load(spec.text))
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            raise LiveConfigError(f"strategy config {spec.path or '(submitted text)'}: {exc}") from None
    else:
        raise LiveConfigError(f"strategy config {spec.path} does not exist; create it or run without --config "
                              "for the default set")
    active, too_long = limit_to_history(active, spec.history_hours)
    return active, [str(error) for error in entry_errors] + too_long


class LiveSetWatcher:
    """The current active set and its version; ``poll()`` reloads it when the file changed."""

    def __init__(self, spec: LiveSetSpec, clock: Callable[[], float] = time.monotonic):
        self.spec = spec
        self._clock = clock
        self.active, errors = load_live_set(spec)
        self.version = 1
        self._fingerprint = self._read_fingerprint()
        self._checked_at = clock()
        self._log_loaded("loaded", errors)

    def _source(self) -> str:
        return self.spec.path or "the default set (every strategy, default parameters, 1m)"

    def _log_loaded(self, verb: str, errors: list[str]) -> None:
        log.info("strategy config %s %s: %d entries", self._source(), verb, len(self.active))
        for error in errors:
            log.warning("strategy config %s: skipped %s", self._source(), error)

    def _read_fingerprint(self) -> str | None:
        if self.spec.path is None:
            return None
        try:
            return hashlib.sha256(Path(self.spec.path).read_bytes()).hexdigest()
        except OSError:
            return None

    def poll(self) -> bool:
        """Reload when the file's content changed; True when the active set was replaced."""
        if self.spec.path is None:
            return False
        now = self._clock()
        if now - self._checked_at < self.spec.reload_interval_s:
            return False
        self._checked_at = now
        fingerprint = self._read_fingerprint()
        if fingerprint is None or fingerprint == self._fingerprint:
            return False  # unchanged, or not visible from this worker (it runs the submitted text)
        self._fingerprint = fingerprint
        try:
            active, errors = load_live_set(self.spec)
        except LiveConfigError as exc:
            log.error("strategy config %s changed but cannot be used (%s); keeping the %d running entries",
                      self.spec.path, exc, len(self.active))
            return False
        before = {entry.key for entry in self.active}
        after = {entry.key for entry in active}
        self.active = active
        self.version += 1
        self._log_loaded(f"reloaded (version {self.version}, {len(after - before)} added, "
                         f"{len(before - after)} removed)", errors)
        return True
