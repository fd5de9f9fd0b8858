"""Shared helpers of the signal-engine tests (no tests here): candle records, configs, expected signals.

"Expected" is always the vectorized evaluation of the strategy library,
``trade_signals(*evaluate(strategy, candles, params))``, over the very candle values the
engine decoded; the engine must produce exactly those bars, once each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import yaml

from streaming.signals.decoding import CandleUpdate, decode_candle
from streaming.signals.history import candles_frame
from streaming.signals.routing import shard_buckets
from tradestream.candles.codec import candle_key
from tradestream.params import params_key
from tradestream.strategies import evaluate, get_strategy
from tradestream.strategies.live import LiveSignal
from tradestream.strategies.positions import BUY, positions_after, trade_signals
from tradestream.strategies.synthetic import synthetic_candles
from tradestream.timeframes import NS_PER_MS, TIMEFRAME_NS
from tradestream.v1 import market_pb2, strategy_pb2

# Cheap strategies with frequent signals, one with a long window (MACD) and one needing
# trade_count (TICK_VOLUME_ANALYSIS) so the proto's optional columns are exercised.
CONFIG_A: tuple[tuple[str, dict], ...] = (
    ("DONCHIAN_BREAKOUT", {"entry_period": 12, "exit_period": 6}),
    ("MACD_CROSSOVER", {"fast": 10, "slow": 24, "signal": 7}),
    ("TICK_VOLUME_ANALYSIS", {}),
)
# After a reload: MACD kept (same parameters), DONCHIAN removed, AROON_MFI added.
CONFIG_B: tuple[tuple[str, dict], ...] = (
    ("MACD_CROSSOVER", {"fast": 10, "slow": 24, "signal": 7}),
    ("TICK_VOLUME_ANALYSIS", {}),
    ("AROON_MFI", {"aroon_period": 14}),
)


class SignalKey(NamedTuple):
    strategy: str
    params: str          # params_key: canonical JSON
    pair: str
    timeframe: str
    candle_time_ms: int
    type: str            # BUY / SELL

    @property
    def identity(self) -> tuple:
        """What a signal is idempotent on: (strategy, parameters, pair, timeframe, candle time)."""
        return self[:5]


def market(bars: int, seed: int, start: str = "2024-03-01") -> pd.DataFrame:
    """``bars`` 1-minute candles of the synthetic market."""
    return synthetic_candles(days=bars / 1440 + 0.01, seed=seed, start=start).iloc[:bars]


def candle_message(pair: str, timeframe: str, at: pd.Timestamp, row: Mapping[str, float],
                   revision: int = 0) -> market_pb2.Candle:
    message = market_pb2.Candle(currency_pair=pair, timeframe=timeframe, open=row["open"], high=row["high"],
                                low=row["low"], close=row["close"], volume=row["volume"], vwap=row["vwap"],
                                trade_count=int(row["trade_count"]), revision=revision)
    message.window_start.FromNanoseconds(at.value)
    message.window_end.FromNanoseconds(at.value + TIMEFRAME_NS[timeframe])
    return message


def candle_records(frame: pd.DataFrame, pair: str, timeframe: str = "1m") -> list[tuple[bytes, bytes]]:
    """(key, Candle bytes) per row, as the candle job publishes them."""
    key = candle_key(pair, timeframe)
    return [(key, candle_message(pair, timeframe, at, row).SerializeToString()) for at, row in frame.iterrows()]


def updates(frame: pd.DataFrame, pair: str, timeframe: str = "1m", first_offset: int = 0) -> list[CandleUpdate]:
    """The engine's input for ``frame``, through the real record decoding."""
    return [decode_candle(value, key, 0, first_offset + i)
            for i, (key, value) in enumerate(candle_records(frame, pair, timeframe))]


def sharded(stream: Iterable[CandleUpdate], history_hours: float = 168) -> list[CandleUpdate]:
    """Each candle once per shard key, as the job's DecodeCandles routes it."""
    return [update._replace(bucket=bucket) for update in stream
            for bucket in shard_buckets(update.timeframe, history_hours)]


def decoded_frame(stream: Sequence[CandleUpdate]) -> pd.DataFrame:
    """The candle values the engine sees (final revision per window start)."""
    final = {u.window_start_ms: u.values for u in stream}
    times = sorted(final)
    return candles_frame(times, [final[t] for t in times])


def expected_signals(frame: pd.DataFrame, pair: str, entries: Iterable[tuple[str, dict]], timeframe: str = "1m",
                     since: pd.Timestamp | None = None, until: pd.Timestamp | None = None) -> set[SignalKey]:
    """Signals of the vectorized evaluation over ``frame``, on bars in [since, until)."""
    out = set()
    for strategy, params in entries:
        spec = get_strategy(strategy)
        values = spec.validate_params(params)
        actions = trade_signals(*evaluate(strategy, frame, values))
        for at, action in actions[actions != 0].items():
            if (since is None or at >= since) and (until is None or at < until):
                out.add(SignalKey(spec.name, params_key(values), pair, timeframe, at.value // NS_PER_MS,
                                  "BUY" if action == BUY else "SELL"))
    return out


def held_position(frame: pd.DataFrame, strategy: str, params: dict, at: pd.Timestamp) -> int:
    """The vectorized position of a strategy after bar ``at``."""
    return int(positions_after(*evaluate(strategy, frame, params)).loc[at])


def key_of(signal: LiveSignal) -> SignalKey:
    return SignalKey(signal.strategy, signal.params_key, signal.pair, signal.timeframe,
                     signal.candle_time.value // NS_PER_MS, signal.type)


def key_of_proto(message: strategy_pb2.Signal) -> SignalKey:
    params = {}
    for p in message.strategy.parameters:
        params[p.name] = getattr(p, p.WhichOneof("value"))
    kind = {strategy_pb2.SIGNAL_TYPE_BUY: "BUY", strategy_pb2.SIGNAL_TYPE_SELL: "SELL"}[message.type]
    return SignalKey(message.strategy.strategy, params_key(params), message.currency_pair, message.timeframe,
                     message.candle_time.ToNanoseconds() // NS_PER_MS, kind)


def write_config(path: Path, entries: Iterable[tuple[str, dict]], extra: Sequence[dict] = ()) -> Path:
    """A live strategy config file with ``entries`` (every pair, 1m) plus raw ``extra`` entries."""
    items = [{"strategy": name, "params": dict(params)} for name, params in entries] + list(extra)
    path.write_text(yaml.safe_dump({"strategies": items}, sort_keys=False))
    return path
