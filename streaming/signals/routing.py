"""Which key a stream's shards get, so that Flink spreads the signal job's work evenly.

The strategies of one (pair, timeframe) are split into shards by the frame they are
evaluated on (``frame_bucket``: 64, 128, ... candles); each shard is a key of the stateful
stage. ``flink_subtask`` reproduces where Flink places a key, and ``ShardRouter`` picks keys
that land each shard on the worker its plan gives it (see the engine's module docstring for
why shards exist, tests/pipeline/test_signals_routing.py for the check against a real run).
"""

from __future__ import annotations

import zlib

from streaming.signals.live_set import history_candles
from tradestream.strategies.config import ActiveStrategySet
from tradestream.strategies.live import MIN_BUCKET, frame_bucket


def shard_key(pair: str, timeframe: str, bucket: int) -> str:
    """``pair|timeframe|b<bucket>`` (``pair|timeframe`` for bucket 0, all strategies in one key)."""
    return f"{pair}|{timeframe}|b{bucket}" if bucket else f"{pair}|{timeframe}"


def shard_buckets(timeframe: str, history_hours: float) -> tuple[int, ...]:
    """Every frame bucket a strategy on ``timeframe`` can have, given the history limit
    (``limit_to_history`` refuses longer windows): 64, 128, ... up to the history's bucket."""
    largest = frame_bucket(history_candles(timeframe, history_hours))
    return tuple(1 << n for n in range(MIN_BUCKET.bit_length() - 1, largest.bit_length()))


# Flink's default max parallelism (number of key groups) for jobs up to parallelism 85:
# KeyGroupRangeAssignment.computeDefaultMaxParallelism rounds 1.5 x parallelism up to a power
# of two, at least 128.
FLINK_DEFAULT_MAX_PARALLELISM = 128

# Evaluation cost of a shard by frame bucket (ms per candle of the default set on this
# machine's class of CPU: 25 short-frame strategies at 64, MACD/ADX/stochastic families at
# 1,024 and 2,048). Only the ratios matter, and they only steer placement: a custom set
# balances less well but evaluates the same.
SHARD_WEIGHTS = {64: 20.0, 128: 5.0, 256: 3.0, 512: 5.0, 1024: 20.0, 2048: 19.0, 4096: 1.0, 8192: 2.0}


def _murmur_finalize(code: int) -> int:
    """org.apache.flink.util.MathUtils.murmurHash for one int, as a non-negative int."""
    mask = 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    code = rotl((code * 0xCC9E2D51) & mask, 15)
    code = rotl((code * 0x1B873593) & mask, 13)
    h = ((code * 5 + 0xE6546B64) & mask) ^ 4
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    signed = h - (1 << 32) if h >= 1 << 31 else h
    return signed if signed >= 0 else (-signed if signed != -(1 << 31) else 0)


def flink_subtask(key: str, parallelism: int, max_parallelism: int = FLINK_DEFAULT_MAX_PARALLELISM) -> int:
    """The parallel subtask Flink routes a Beam ``str`` key to.

    Beam's Flink runner keys a stateful stage by the key's encoding in the nested context
    (``FlinkKeyUtils.encodeKey``: a varint length and the UTF-8 bytes) wrapped in a
    ``ByteBuffer``; Flink hashes ``ByteBuffer.hashCode()`` with murmur into one of
    ``max_parallelism`` key groups, and key groups are split into contiguous ranges per
    subtask (``KeyGroupRangeAssignment``). Checked against a real run in
    tests/pipeline/test_signals_routing.py.
    """
    data = key.encode()
    length, prefix = len(data), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        prefix.append(byte | 0x80 if length else byte)
        if not length:
            break
    h = 1
    for byte in reversed(bytes(prefix) + data):  # ByteBuffer.hashCode: signed bytes, last to first
        h = (31 * h + (byte - 256 if byte >= 128 else byte)) & 0xFFFFFFFF
    key_group = _murmur_finalize(h) % max_parallelism
    return key_group * parallelism // max_parallelism


class ShardRouter:
    """The state key of each shard, chosen so that Flink spreads a stream's work evenly.

    Flink places keys by hash; with ~70 keys of very unequal cost (a 64-candle shard of 25
    strategies next to a 4,096-candle shard of none) the two workers of the default job got
    59% and 41% of the work (measured). The router plans each stream on its own: shards
    heaviest first (``SHARD_WEIGHTS``), each to the least loaded subtask, the tie-break
    rotated per stream so that the heavier half of each stream's split alternates between
    workers. A shard whose plain key ``pair|timeframe|b<bucket>`` does not hash to its
    subtask gets the first ``@<n>`` suffix that does (``flink_subtask``).

    The plan depends only on the stream, the buckets and the parallelism, never on the
    strategy config, so keys are stable across restarts and reloads. A restart with another
    parallelism moves some shards to new keys: those seed again from the topic.
    """

    def __init__(self, parallelism: int, history_hours: float,
                 max_parallelism: int = FLINK_DEFAULT_MAX_PARALLELISM):
        if parallelism < 1:
            raise ValueError(f"parallelism {parallelism} must be at least 1")
        self.parallelism = parallelism
        self.history_hours = history_hours
        self.max_parallelism = max_parallelism
        self._plans: dict[tuple[str, str], tuple[tuple[int, str], ...]] = {}

    def shards(self, pair: str, timeframe: str) -> tuple[tuple[int, str], ...]:
        """(bucket, state key) of every shard of the stream."""
        plan = self._plans.get((pair, timeframe))
        if plan is None:
            plan = self._plans[(pair, timeframe)] = self._plan(pair, timeframe)
        return plan

    def _plan(self, pair: str, timeframe: str) -> tuple[tuple[int, str], ...]:
        buckets = shard_buckets(timeframe, self.history_hours)
        if self.parallelism == 1:
            return tuple((b, shard_key(pair, timeframe, b)) for b in buckets)
        rotation = zlib.crc32(f"{pair}|{timeframe}".encode()) % self.parallelism
        loads = [0.0] * self.parallelism
        plan = []
        for bucket in sorted(buckets, key=lambda b: (-SHARD_WEIGHTS.get(b, 1.0), b)):
            target = min(range(self.parallelism),
                         key=lambda i: (loads[i], (i - rotation) % self.parallelism))
            loads[target] += SHARD_WEIGHTS.get(bucket, 1.0)
            plan.append((bucket, self._key_on(shard_key(pair, timeframe, bucket), target)))
        return tuple(sorted(plan))

    def _key_on(self, base: str, target: int) -> str:
        key, salt = base, 0
        while flink_subtask(key, self.parallelism, self.max_parallelism) != target:
            salt += 1
            key = f"{base}@{salt}"
        return key


def shard_entries(active: ActiveStrategySet, bucket: int) -> ActiveStrategySet:
    """The entries of ``active`` evaluated on frames of ``bucket`` candles (0: all of them)."""
    if not bucket:
        return active
    return ActiveStrategySet.of(e for e in active if frame_bucket(e.window) == bucket)
