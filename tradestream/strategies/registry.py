"""Look-up of the declared strategies by name."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import pandas as pd

from tradestream.strategies.cache import IndicatorCache
from tradestream.strategies.library import SPECS
from tradestream.strategies.spec import StrategySpec


class UnknownStrategyError(KeyError):
    """No strategy has that name. The message lists the closest names."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown strategy {name!r}{hint} (`tradestream strategies list` shows all "
                         f"{len(_BY_NAME)})")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


_BY_NAME: dict[str, StrategySpec] = {spec.name: spec for spec in sorted(SPECS, key=lambda s: s.name)}
if len(_BY_NAME) != len(SPECS):
    raise RuntimeError("two strategies share a name in tradestream.strategies.library")


def list_strategies() -> list[StrategySpec]:
    """All strategies, sorted by name."""
    return list(_BY_NAME.values())


def strategy_names() -> list[str]:
    return list(_BY_NAME)


def get_strategy(name: str) -> StrategySpec:
    """The strategy called ``name`` (case-insensitive, '-' or ' ' may stand for '_')."""
    if not isinstance(name, str):
        raise UnknownStrategyError(repr(name), [])
    canonical = name.strip().upper().replace("-", "_").replace(" ", "_")
    try:
        return _BY_NAME[canonical]
    except KeyError:
        # Names containing a fragment ("MACD", "RSI") first, then near spellings ("MACD_CROSOVER").
        containing = [n for n in _BY_NAME if canonical and canonical in n]
        similar = difflib.get_close_matches(canonical, list(_BY_NAME), n=3, cutoff=0.5)
        suggestions = list(dict.fromkeys(containing + similar))[:4]
        raise UnknownStrategyError(name, suggestions) from None


def evaluate(name: str, candles: pd.DataFrame, params: Mapping[str, object] | None = None,
             cache: IndicatorCache | None = None) -> tuple[pd.Series, pd.Series]:
    """(entries, exits) of strategy ``name`` over ``candles``; see ``StrategySpec.signals``."""
    return get_strategy(name).signals(candles, params, cache)
