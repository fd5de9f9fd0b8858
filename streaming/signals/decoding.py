"""What the signal job reads from the ``candles`` topic: a record decoded and validated once.

``decode_candle`` turns a record into a ``CandleUpdate`` or rejects it with the reason its
dead letter carries: ``undecodable_candle`` (not a Candle protobuf) or ``invalid_candle``
(a Candle breaking the contract of market.proto, or keyed differently from its stream).
The update carries the validated values; the evaluator takes them as they are
(``CandleUpdate.live_candle``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import pandas as pd
from google.protobuf.message import DecodeError

from streaming.signals.routing import shard_key
from tradestream.candle_columns import OPTIONAL_STRATEGY_COLUMNS, STRATEGY_INPUT_COLUMNS
from tradestream.candles.codec import candle_key
from tradestream.strategies.live import LiveCandle, to_live_candle
from tradestream.timeframes import NS_PER_MS
from tradestream.v1 import market_pb2

#: The dead letters' ``source``: records of ``candles`` the signal job could not use.
SOURCE = "pipeline:signals"
#: The reasons a record of ``candles`` goes to the dead-letter topic.
DEAD_LETTER_REASONS: tuple[str, ...] = ("undecodable_candle", "invalid_candle")


class RejectedCandle(ValueError):
    """A ``candles`` record the engine cannot use. ``reason`` is the dead-letter reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class CandleUpdate(NamedTuple):
    """One decoded, validated candle record: what flows from decoding to the keyed engine."""

    pair: str
    timeframe: str
    window_start_ms: int
    revision: int
    values: tuple[float, ...]  # STRATEGY_INPUT_COLUMNS order; NaN where an optional column is missing
    partition: int
    offset: int
    bucket: int = 0           # the shard: strategies evaluated on this frame size; 0 = all strategies

    @property
    def key(self) -> str:
        """The engine's name for the shard: ``pair|timeframe`` plus ``|b<bucket>`` for a shard."""
        return shard_key(self.pair, self.timeframe, self.bucket)

    def live_candle(self) -> LiveCandle:
        """The candle as ``LiveEvaluator.on_candle`` takes it, without validating it again:
        ``decode_candle`` validated these values when it made the update."""
        return LiveCandle(self.pair, self.timeframe, pd.Timestamp(self.window_start_ms, unit="ms", tz="UTC"),
                          self.values)

    def as_candle(self) -> dict[str, Any]:
        """The candle as a plain mapping (what ``to_live_candle`` reads): for inspection and tests."""
        candle: dict[str, Any] = {"pair": self.pair, "timeframe": self.timeframe,
                                  "window_start": self.window_start_ms}
        for name, value in zip(STRATEGY_INPUT_COLUMNS, self.values, strict=True):
            if not (math.isnan(value) and name in OPTIONAL_STRATEGY_COLUMNS):
                candle[name] = value
        return candle


def decode_candle(value: bytes | None, key: bytes | None, partition: int = 0, offset: int = 0) -> CandleUpdate:
    """The candle in a ``candles`` record, or RejectedCandle: ``undecodable_candle`` (not a
    Candle protobuf) or ``invalid_candle`` (a Candle breaking the contract of market.proto)."""
    if not value:
        raise RejectedCandle("undecodable_candle", "record has no value; a candles record holds a Candle protobuf")
    try:
        message = market_pb2.Candle.FromString(value)
    except DecodeError as exc:
        raise RejectedCandle("undecodable_candle",
                             f"value of {len(value)} bytes is not a Candle protobuf: {exc}") from None
    if not message.currency_pair and not message.timeframe:
        # random bytes can parse as a message of unknown fields only
        raise RejectedCandle("undecodable_candle",
                             f"value of {len(value)} bytes holds no Candle fields (no currency_pair, no timeframe)")
    if not message.HasField("window_start") or message.window_start.seconds <= 0:
        raise RejectedCandle("invalid_candle", f"candle {message.currency_pair}|{message.timeframe} has no "
                                               "window_start")
    try:
        live = to_live_candle(message)
    except ValueError as exc:
        raise RejectedCandle("invalid_candle", str(exc)) from None
    expected = candle_key(live.pair, live.timeframe)
    if key is not None and key != expected:
        raise RejectedCandle("invalid_candle", f"record key {key!r} differs from the candle's {expected!r}; "
                                               "candles are keyed pair|timeframe")
    return CandleUpdate(live.pair, live.timeframe, live.window_start.value // NS_PER_MS, int(message.revision),
                        live.values, partition, offset)
