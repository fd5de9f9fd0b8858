"""Backtesting, metrics, optimization and walk-forward validation (core library).

Kernels in numba over plain arrays (``_kernels``); a pandas-facing API on top.
"""

from tradestream.backtest.candles import TimeRange, load_candles, parse_range, validate_candles
from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.engine import BacktestRun, run_backtest, run_grid, run_strategy, run_strategy_grid
from tradestream.backtest.errors import BacktestInputError
from tradestream.backtest.metrics import METRIC_NAMES, DeflatedSharpe, Metrics, deflated_sharpe

__all__ = [
    "METRIC_NAMES", "BacktestConfig", "BacktestInputError", "BacktestRun", "DeflatedSharpe", "Metrics",
    "TimeRange", "deflated_sharpe", "load_candles", "parse_range", "run_backtest",
    "run_grid", "run_strategy", "run_strategy_grid", "validate_candles",
]
