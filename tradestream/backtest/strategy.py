"""What the backtester needs from a strategy, and finding one by name.

The strategy library (``tradestream.strategies``) declares each strategy once: a name, a
``ParamSpace`` and ``signals(candles, params) -> (entries, exits)``. Anything with that
shape can be backtested and optimized, which keeps the engine independent of the library.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import pandas as pd

from tradestream.backtest.errors import BacktestInputError
from tradestream.params import ParamSpace, ParamValue


@runtime_checkable
class StrategyLike(Protocol):
    name: str
    space: ParamSpace

    def signals(self, candles: pd.DataFrame, params: Mapping[str, ParamValue]) -> tuple[pd.Series, pd.Series]:
        """Entry and exit conditions per bar (bool Series aligned with the candle index)."""
        ...


def resolve_strategy(strategy: str | StrategyLike) -> StrategyLike:
    """A strategy spec from its name (looked up in ``tradestream.strategies``) or the spec itself."""
    if not isinstance(strategy, str):
        if not isinstance(strategy, StrategyLike):
            raise BacktestInputError(
                f"strategy {strategy!r} has no name/space/signals(); pass a strategy name or spec")
        return strategy
    try:
        library = importlib.import_module("tradestream.strategies")
    except ModuleNotFoundError as exc:
        if exc.name != "tradestream.strategies":
            raise
        raise BacktestInputError(
            f"strategy {strategy!r} cannot be looked up: the strategy library tradestream.strategies "
            "is not installed") from None
    try:
        return library.get_strategy(strategy)
    except KeyError as exc:  # the library's UnknownStrategyError names close matches
        raise BacktestInputError(str(exc) if str(exc) else f"unknown strategy {strategy!r}") from None
