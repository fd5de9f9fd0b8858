"""Candles from trades: the arithmetic (fold, fill-forward, roll-up), the per-pair state
machines the streaming job drives, protobuf conversion, and an independent DuckDB SQL
reference. docs/candles.md states the rules."""

from tradestream.candles.book import MinuteBook, RollupBook, fold_minute
from tradestream.candles.codec import RejectedTrade, candle_key, candle_to_proto, decode_trade
from tradestream.candles.fold import combine_candles, dedupe_trades, exact_partials, filled_candle, fold_trades
from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.reference import candles_match, diff_candles, reference_candles

__all__ = [
    "CandleRecord", "MinuteBook", "RejectedTrade", "RollupBook", "TradeTick", "candle_key",
    "candle_to_proto", "candles_match", "combine_candles", "decode_trade", "dedupe_trades", "diff_candles",
    "exact_partials", "filled_candle", "fold_minute", "fold_trades", "reference_candles",
]
