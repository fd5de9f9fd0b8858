"""StrategySpec: one declared strategy and its single evaluator."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from tradestream.params import InsufficientCandlesError, ParamSpace, ParamValue
from tradestream.strategies.cache import IndicatorCache
from tradestream.strategies.expressions import Col, Cond, EvalContext, Ind, iter_exprs, iter_scalars


@dataclass(frozen=True, eq=False)
class StrategySpec:
    """A strategy declared as data: indicators, entry and exit conditions, a parameter space.

    ``signals`` is the one evaluator: it turns a candle frame and a parameter set into
    boolean entry and exit series over the whole frame. Backtests call it on history;
    the live evaluator calls it on its window and reads the last bar.
    """

    name: str
    description: str
    space: ParamSpace
    entry: Cond
    exit: Cond
    family: str = ""
    indicators: tuple[Ind, ...] = field(init=False)
    columns: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        if self.space.owner != self.name:
            raise ValueError(f"{self.name}: parameter space owner is {self.space.owner!r}, expected the strategy name")
        used: set[str] = set()
        for cond in (self.entry, self.exit):
            for scalar in iter_scalars(cond):
                used |= scalar.param_names()
        unknown = used - set(self.space.names)
        if unknown:
            raise ValueError(f"{self.name}: rules use undeclared parameter(s) {sorted(unknown)}")
        unused = set(self.space.names) - used
        if unused:
            raise ValueError(f"{self.name}: parameter(s) {sorted(unused)} are declared but no rule uses them")
        calls: dict[str, Ind] = {}
        columns: set[str] = set()
        for cond in (self.entry, self.exit):
            for expr in iter_exprs(cond):
                if isinstance(expr, Ind):
                    call = Ind(expr.name, *expr.inputs, **dict(expr.kwargs))  # the call, not one output
                    calls.setdefault(str(call), call)
                elif isinstance(expr, Col):
                    columns.add(expr.name)
        object.__setattr__(self, "indicators", tuple(calls.values()))
        object.__setattr__(self, "columns", frozenset(columns))

    # ------------------------------------------------------------------ parameters
    def validate_params(self, params: Mapping[str, object] | None = None) -> dict[str, ParamValue]:
        """Defaults overlaid with ``params``; ParameterError names strategy, parameter and value."""
        return self.space.validate(params)

    def lookback(self, params: Mapping[str, object] | None = None) -> int:
        """Bars before the first bar on which a signal can occur (the first valid bar's index)."""
        values = self.validate_params(params)
        return max(self.entry.warmup(values), self.exit.warmup(values))

    def min_candles(self, params: Mapping[str, object] | None = None) -> int:
        return self.lookback(params) + 1

    def window(self, params: Mapping[str, object] | None = None) -> int:
        """Candles a live evaluator keeps so its last-bar signal equals a full-history evaluation.

        The look-back plus the bars recursive indicators need to forget where the window
        starts (see ``indicators.convergence_bars``), plus the current bar.
        """
        values = self.validate_params(params)
        memory = max(self.entry.memory(values), self.exit.memory(values))
        return self.lookback(values) + memory + 1

    # ------------------------------------------------------------------ evaluation
    def signals(self, candles: pd.DataFrame, params: Mapping[str, object] | None = None,
                cache: IndicatorCache | None = None) -> tuple[pd.Series, pd.Series]:
        """(entries, exits): boolean series aligned with ``candles.index``.

        Bars inside the look-back are False. Raises ValueError for a broken frame,
        ParameterError for bad parameters and InsufficientCandlesError when the frame is
        shorter than the look-back.
        """
        values = self.validate_params(params)
        cache = cache if cache is not None else IndicatorCache()
        frame = cache.bind(candles, owner=self.name)
        return self.evaluate_frame(frame, values, cache)

    def evaluate_frame(self, frame: pd.DataFrame, values: Mapping[str, ParamValue],
                       cache: IndicatorCache) -> tuple[pd.Series, pd.Series]:
        """``signals`` for a frame ``cache`` is bound to and parameters already validated.

        The live evaluator calls this once per strategy and candle, skipping the
        validation it did when the config was loaded.
        """
        lookback = self.check_frame(frame, values)
        ctx = EvalContext(frame, values, cache, self.name)
        entries = self.entry.evaluate(ctx)
        exits = self.exit.evaluate(ctx)
        entries[:lookback] = False
        exits[:lookback] = False
        return (pd.Series(entries, index=frame.index, name="entry", dtype=np.bool_),
                pd.Series(exits, index=frame.index, name="exit", dtype=np.bool_))

    def holds_on_last_bar(self, frame: pd.DataFrame, values: Mapping[str, ParamValue], cache: IndicatorCache,
                          side: str) -> bool:
        """Whether the ``side`` ("entry" or "exit") condition holds on the last bar of ``frame``:
        the last element of ``evaluate_frame``'s series for that side, without evaluating the
        other side. The live evaluator needs only one: flat, only the entry decides; long, only
        the exit (``positions.step``)."""
        self.check_frame(frame, values)
        cond = self.entry if side == "entry" else self.exit if side == "exit" else None
        if cond is None:
            raise ValueError(f"side {side!r} must be 'entry' or 'exit'")
        return bool(cond.evaluate(EvalContext(frame, values, cache, self.name))[-1])

    def check_frame(self, frame: pd.DataFrame, values: Mapping[str, ParamValue]) -> int:
        """The look-back for ``values``; raises when ``frame`` is too short or lacks a column."""
        lookback = self.lookback(values)
        if len(frame) <= lookback:
            raise InsufficientCandlesError(
                f"{self.name} needs at least {lookback + 1} candles for {_fmt_params(values)} "
                f"(look-back {lookback} bars); got {len(frame)}. Pass more history or shorter periods")
        missing = sorted(self.columns - set(frame.columns))
        if missing:
            raise ValueError(f"{self.name} needs candle column(s) {missing}, which this frame lacks "
                             f"(it has {list(frame.columns)})")
        return lookback

    # ------------------------------------------------------------------ description
    @cached_property
    def entry_rule(self) -> str:
        return str(self.entry)

    @cached_property
    def exit_rule(self) -> str:
        return str(self.exit)

    def as_dict(self) -> dict[str, object]:
        defaults = self.space.defaults()
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "parameters": [p.as_dict() for p in self.space],
            "constraints": [str(c) for c in self.space.constraints],
            "indicators": [str(i) for i in self.indicators],
            "entry": self.entry_rule,
            "exit": self.exit_rule,
            "lookback": self.lookback(defaults),
            "window": self.window(defaults),
            "columns": sorted(self.columns),
        }


def _fmt_params(values: Mapping[str, ParamValue]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "its (parameter-free) rule"
