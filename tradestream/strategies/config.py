"""The active strategy set: which strategies run, with which parameters, on which streams.

A YAML or JSON file (the optimizer writes the same format)::

    include_defaults: false        # true: also run every strategy with its defaults
    defaults:                      # applied to entries that leave these out
      timeframes: [1m]
      pairs: "*"                   # "*" (or omitted) = every pair
    strategies:
      - strategy: MACD_CROSSOVER
        params: {fast: 10, slow: 24, signal: 9}
        pairs: [BTC-USD, ETH-USD]
        timeframes: [1m, 5m]
      - strategy: "*"              # every strategy, default parameters
        timeframes: [15m]

Without a file the default set applies: every strategy with its default parameters on
1-minute candles of every pair. A bad entry (unknown strategy, parameter out of range or
breaking a constraint, unknown timeframe) is reported and skipped; the rest runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import yaml

from tradestream.params import ParamValue, params_key
from tradestream.strategies.registry import UnknownStrategyError, get_strategy, list_strategies
from tradestream.strategies.spec import StrategySpec
from tradestream.timeframes import check_timeframes

DEFAULT_TIMEFRAMES: tuple[str, ...] = ("1m",)
_ENTRY_KEYS = {"strategy", "params", "pairs", "timeframes"}
_TOP_KEYS = {"strategies", "defaults", "include_defaults"}
_PAIR = re.compile(r"^[A-Z0-9]+-[A-Z0-9]+$")


@dataclass(frozen=True, eq=False)
class ActiveEntry:
    """One strategy with validated parameters on a set of pairs (None = all) and timeframes."""

    strategy: str
    params: dict[str, ParamValue]
    pairs: tuple[str, ...] | None = None
    timeframes: tuple[str, ...] = DEFAULT_TIMEFRAMES

    @cached_property
    def spec(self) -> StrategySpec:
        return get_strategy(self.strategy)

    @cached_property
    def key(self) -> str:
        """``STRATEGY{"param":value,...}``: identifies the position a live engine keeps."""
        return f"{self.strategy}{params_key(self.params)}"

    @cached_property
    def lookback(self) -> int:
        return self.spec.lookback(self.params)

    @cached_property
    def window(self) -> int:
        return self.spec.window(self.params)

    def applies_to(self, pair: str, timeframe: str) -> bool:
        return timeframe in self.timeframes and (self.pairs is None or pair in self.pairs)

    def as_dict(self) -> dict[str, object]:
        return {"strategy": self.strategy, "params": dict(self.params),
                "pairs": "*" if self.pairs is None else list(self.pairs), "timeframes": list(self.timeframes)}


@dataclass(frozen=True)
class ConfigEntryError:
    """Why one entry of the config was skipped."""

    index: int
    strategy: str | None
    message: str

    def __str__(self) -> str:
        who = f" ({self.strategy})" if self.strategy else ""
        return f"strategies[{self.index}]{who}: {self.message}"


@dataclass(frozen=True, eq=False)
class ActiveStrategySet:
    entries: tuple[ActiveEntry, ...]
    _streams: dict[tuple[str, str], list[ActiveEntry]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, entries: Iterable[ActiveEntry]) -> ActiveStrategySet:
        unique: dict[tuple, ActiveEntry] = {}
        for entry in entries:
            unique.setdefault((entry.key, entry.pairs, entry.timeframes), entry)
        return cls(tuple(unique.values()))

    @classmethod
    def default(cls, timeframes: Iterable[str] = DEFAULT_TIMEFRAMES,
                pairs: Iterable[str] | None = None) -> ActiveStrategySet:
        """Every strategy with its default parameters (on 1-minute candles of every pair)."""
        tfs = tuple(timeframes)
        pair_tuple = tuple(pairs) if pairs is not None else None
        return cls.of(ActiveEntry(spec.name, spec.space.defaults(), pair_tuple, tfs) for spec in list_strategies())

    @classmethod
    def from_dict(cls, data: object) -> tuple[ActiveStrategySet, list[ConfigEntryError]]:
        """Parse a config document; bad entries come back as errors, never as exceptions."""
        if isinstance(data, list):
            data = {"strategies": data}
        if not isinstance(data, Mapping):
            raise TypeError(f"strategy config must be a mapping with a 'strategies' list, got {type(data).__name__}")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise ValueError(f"strategy config has unknown key(s) {unknown}; expected some of {sorted(_TOP_KEYS)}")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, Mapping) or set(defaults) - {"pairs", "timeframes"}:
            raise ValueError(f"strategy config 'defaults' must map 'pairs' and/or 'timeframes', got {defaults!r}")
        default_pairs = _pairs(defaults.get("pairs", "*"))
        default_tfs = _timeframes(defaults.get("timeframes", list(DEFAULT_TIMEFRAMES)))
        raw = data.get("strategies", [])
        if not isinstance(raw, list):
            raise TypeError(f"strategy config 'strategies' must be a list, got {type(raw).__name__}")
        entries: list[ActiveEntry] = []
        if data.get("include_defaults", False):
            entries.extend(cls.default(default_tfs, default_pairs).entries)
        errors: list[ConfigEntryError] = []
        for index, item in enumerate(raw):
            try:
                entries.extend(_parse_entry(item, default_pairs, default_tfs))
            except (ValueError, TypeError, UnknownStrategyError) as exc:
                name = item.get("strategy") if isinstance(item, Mapping) else None
                errors.append(ConfigEntryError(index, name if isinstance(name, str) else None, str(exc)))
        return cls.of(entries), errors

    def for_stream(self, pair: str, timeframe: str) -> list[ActiveEntry]:
        """Entries that run on one (pair, timeframe), one per (strategy, parameters)."""
        cached = self._streams.get((pair, timeframe))
        if cached is None:
            seen: dict[str, ActiveEntry] = {}
            for entry in self.entries:
                if entry.applies_to(pair, timeframe):
                    seen.setdefault(entry.key, entry)
            cached = self._streams[(pair, timeframe)] = list(seen.values())
        return cached

    def window_for(self, pair: str, timeframe: str) -> int:
        """Candles a live evaluator must keep for this stream (0 when nothing runs on it)."""
        return max((e.window for e in self.for_stream(pair, timeframe)), default=0)

    def to_dict(self) -> dict[str, object]:
        return {"strategies": [e.as_dict() for e in self.entries]}

    def dump(self, path: str | Path) -> Path:
        """Write the set as YAML (.yaml/.yml) or JSON (anything else)."""
        path = Path(path)
        data = self.to_dict()
        text = yaml.safe_dump(data, sort_keys=False) if path.suffix in (".yaml", ".yml") \
            else json.dumps(data, indent=2) + "\n"
        path.write_text(text)
        return path

    def __iter__(self) -> Iterator[ActiveEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def load_active_set(path: str | Path | None) -> tuple[ActiveStrategySet, list[ConfigEntryError]]:
    """(valid entries, errors) from a YAML/JSON file; the default set when ``path`` is None.

    A missing or unparsable file raises (nothing sensible can run from it); a bad entry
    only lands in ``errors`` so the engine can log it and run the rest.
    """
    if path is None:
        return ActiveStrategySet.default(), []
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"strategy config {path} does not exist; create it or run without one "
                                "for the default set (every strategy, default parameters, 1m)")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"strategy config {path} is not valid {path.suffix.lstrip('.') or 'yaml'}: {exc}") from exc
    if data is None:
        raise ValueError(f"strategy config {path} is empty; add a 'strategies' list")
    try:
        return ActiveStrategySet.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"strategy config {path}: {exc}") from exc


def _parse_entry(item: object, default_pairs: tuple[str, ...] | None,
                 default_tfs: tuple[str, ...]) -> list[ActiveEntry]:
    if not isinstance(item, Mapping):
        raise TypeError(f"entry must be a mapping with 'strategy' and 'params', got {item!r}")
    unknown = sorted(set(item) - _ENTRY_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown}; an entry has {sorted(_ENTRY_KEYS)}")
    name = item.get("strategy")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"'strategy' must name a strategy, got {name!r}")
    params = item.get("params") or {}
    if not isinstance(params, Mapping):
        raise TypeError(f"'params' must be a mapping of parameter names to values, got {params!r}")
    pairs = _pairs(item["pairs"]) if "pairs" in item else default_pairs
    timeframes = _timeframes(item["timeframes"]) if "timeframes" in item else default_tfs
    if name.strip() == "*":
        if params:
            raise ValueError("strategy '*' (every strategy) takes no params; each uses its defaults")
        return [ActiveEntry(s.name, s.space.defaults(), pairs, timeframes) for s in list_strategies()]
    spec = get_strategy(name)
    return [ActiveEntry(spec.name, spec.validate_params(params), pairs, timeframes)]


def _pairs(value: object) -> tuple[str, ...] | None:
    if value is None or value == "*" or value == ["*"]:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(f"'pairs' must be '*' or a non-empty list like [BTC-USD], got {value!r}")
    bad = [p for p in value if not isinstance(p, str) or not _PAIR.match(p)]
    if bad:
        raise ValueError(f"pair(s) {bad} must look like 'BTC-USD' (upper case BASE-QUOTE)")
    return tuple(value)


def _timeframes(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError(f"'timeframes' must be a non-empty list like [1m, 5m], got {value!r}")
    return tuple(check_timeframes(value))
