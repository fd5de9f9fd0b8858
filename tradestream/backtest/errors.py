"""Errors of the backtester. Messages name the bad value and say what to do."""

from __future__ import annotations


class BacktestInputError(ValueError):
    """Candles, signals, settings or a date range that a backtest cannot run on."""
