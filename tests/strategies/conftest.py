"""Fixtures of the strategy tests: the standard synthetic month and every strategy's signals on it.

Both are computed once per session (the 60 vectorized evaluations take a few seconds)
and shared by the tests that read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from tradestream.strategies import IndicatorCache, list_strategies
from tradestream.strategies.positions import trade_signals
from tradestream.strategies.synthetic import synthetic_candles


@dataclass(frozen=True)
class Evaluated:
    entries: pd.Series
    exits: pd.Series
    signals: pd.Series  # +1 BUY, -1 SELL, 0


@pytest.fixture(scope="session")
def month() -> pd.DataFrame:
    """30 days of 1-minute candles (43,200 bars) from the seeded synthetic market."""
    return synthetic_candles()


@pytest.fixture(scope="session")
def month_signals(month: pd.DataFrame) -> dict[str, Evaluated]:
    """Default-parameter signals of every strategy over the month, through one shared cache."""
    cache = IndicatorCache(month)
    out = {}
    for spec in list_strategies():
        entries, exits = spec.signals(month, cache=cache)
        out[spec.name] = Evaluated(entries, exits, trade_signals(entries, exits))
    return out
