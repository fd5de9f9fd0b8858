"""The column sets of a candle frame, each defined once.

A candle frame (strategies, the backtester, the live evaluator) is indexed by the UTC
window start and holds these columns. The DuckDB ``candles`` table has more (pair,
timeframe, revision ...): its columns are ``tradestream.store.CANDLE_TABLE_COLUMNS``.
Imports nothing, so the strategy library does not pull in the candle pipeline to name them.
"""

from __future__ import annotations

#: The prices of a bar: what the backtester cannot run without.
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
#: Prices and volume: what every strategy needs.
OHLCV_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")
#: Platform candles carry these; strategies may read them, so frames from elsewhere may lack them.
OPTIONAL_STRATEGY_COLUMNS: tuple[str, ...] = ("vwap", "trade_count")
#: Every column a strategy can read, in the order the live evaluator keeps a candle's values.
STRATEGY_INPUT_COLUMNS: tuple[str, ...] = OHLCV_COLUMNS + OPTIONAL_STRATEGY_COLUMNS
