"""The strategy library: 60 declarative strategies, one vectorized evaluator, live evaluation.

    from tradestream.strategies import get_strategy, list_strategies, evaluate
    entries, exits = evaluate("MACD_CROSSOVER", candles, {"fast": 10})
    from tradestream.strategies.positions import trade_signals
    signals = trade_signals(entries, exits)   # +1 BUY, -1 SELL, 0 none

See docs/strategies.md for the rules of every strategy and the live/backtest guarantees.
"""

from tradestream.params import InsufficientCandlesError, ParameterError
from tradestream.strategies.cache import IndicatorCache
from tradestream.strategies.candles import validate_candles
from tradestream.strategies.expressions import StrategyDataError
from tradestream.strategies.registry import (
    UnknownStrategyError,
    evaluate,
    get_strategy,
    list_strategies,
    strategy_names,
)
from tradestream.strategies.spec import StrategySpec

__all__ = [
    "IndicatorCache",
    "InsufficientCandlesError",
    "ParameterError",
    "StrategyDataError",
    "StrategySpec",
    "UnknownStrategyError",
    "evaluate",
    "get_strategy",
    "list_strategies",
    "strategy_names",
    "validate_candles",
]
