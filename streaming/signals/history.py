"""Candle history for seeding the engine's windows, read from the ``candles`` topic.

A stream's records all live in one partition (the key is ``pair|timeframe``), so the
history of a stream before a record is the stream's records at smaller offsets of that
partition. The read starts at the first record whose Kafka timestamp (the candle job's
emission time, at or after the candle's window end) is at or after the oldest window
start needed, keeps the last record per window start (log order is emission order, so
that is the final revision) and stops at the record being processed. Records of other
streams are passed over, records the live path dead-letters are skipped.

The history is the stream's *whole* history when the read starts at offset 0 of a
partition nothing was ever deleted from; otherwise the live evaluator only signals once
it holds each strategy's full window (see ``LiveEvaluator.seed``).

``HistorySource`` is what the engine asks; ``KafkaCandleHistory`` answers it with the
bounded reader of ``streaming.kafka.ranges``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from confluent_kafka import KafkaException, Message

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import KafkaRangeError, OffsetReader
from streaming.signals.decoding import CandleUpdate, decode_candle
from tradestream.candle_columns import OPTIONAL_STRATEGY_COLUMNS, STRATEGY_INPUT_COLUMNS
from tradestream.candles.codec import candle_key
from tradestream.timeframes import NS_PER_MS, TIMEFRAME_NS

log = logging.getLogger(__name__)


def candles_frame(times_ms: Sequence[int], rows: Sequence[Sequence[float | None]]) -> pd.DataFrame:
    """A candle frame (UTC window starts, STRATEGY_INPUT_COLUMNS) from rows; optional columns with a gap
    are dropped, as the live evaluator's own window does."""
    data = np.array([[math.nan if v is None else v for v in row] for row in rows],
                    dtype="float64").reshape(len(rows), len(STRATEGY_INPUT_COLUMNS))
    index = pd.DatetimeIndex(np.asarray(times_ms, dtype="int64") * NS_PER_MS, tz="UTC", name="window_start")
    frame = pd.DataFrame(data, columns=list(STRATEGY_INPUT_COLUMNS), index=index)
    gaps = [c for c in OPTIONAL_STRATEGY_COLUMNS if frame[c].isna().any()]
    return frame.drop(columns=gaps) if gaps else frame


@dataclass(frozen=True)
class StreamHistory:
    """Final candles of one stream before a record, and whether they are its whole history."""

    frame: pd.DataFrame | None
    complete: bool
    records_read: int = 0


class HistoryReadError(RuntimeError):
    """History could not be read for seeding; the message names the source and the stream."""


class HistorySource(Protocol):
    def read(self, pair: str, timeframe: str, *, partition: int, before_offset: int, before_ms: int,
             bars: int) -> StreamHistory:
        """The last ``bars`` (or more) final candles of the stream with window start before
        ``before_ms``, from records before ``before_offset`` of ``partition``."""
        ...


@dataclass(frozen=True)
class KafkaCandleHistory:
    """``HistorySource`` over the ``candles`` topic. Picklable: travels with the pipeline."""

    kafka: KafkaClientConfig
    topic: str
    margin_bars: int = 16         # read a little further back than needed (clock skew, revisions)
    timeout_s: float = 60.0

    def read(self, pair: str, timeframe: str, *, partition: int, before_offset: int, before_ms: int,
             bars: int) -> StreamHistory:
        started = time.monotonic()
        deadline = started + self.timeout_s
        since_ms = before_ms - (bars + self.margin_bars) * (TIMEFRAME_NS[timeframe] // NS_PER_MS)
        wanted = candle_key(pair, timeframe)

        def decode(message: Message) -> CandleUpdate | None:
            if message.key() != wanted:
                return None  # another stream of the partition
            # raises RejectedCandle: the live path dead-letters that record, history skips it
            return decode_candle(message.value(), message.key(), partition, message.offset())

        try:
            with OffsetReader(self.kafka, self.topic, purpose="signals-seed") as reader:
                low, high = reader.watermarks(partition, deadline)
                found = reader.offsets_at([partition], max(since_ms, 0))[partition]
                start = max(low, found) if found >= 0 else before_offset
                stop = min(before_offset, high)
                complete = start == 0 and low == 0
                if start >= stop:
                    return StreamHistory(None, complete)
                got = reader.read({partition: (start, stop)}, decode, deadline=deadline)
        except (KafkaRangeError, KafkaException) as exc:
            raise HistoryReadError(f"cannot read {self.topic}[{partition}] at {self.kafka.bootstrap} to seed "
                                   f"{pair}|{timeframe}: {exc}") from exc
        final: dict[int, tuple[float, ...]] = {}
        for update in got.records:
            if update is not None and update.window_start_ms < before_ms:
                final[update.window_start_ms] = update.values
        read = sum(1 for update in got.records if update is not None) + got.undecodable
        log.info("read %d records of %s|%s from %s[%d] offsets %d..%d in %.2f s", read, pair, timeframe,
                 self.topic, partition, start, got.next_offsets[partition], time.monotonic() - started)
        if not final:
            return StreamHistory(None, complete, read)
        times = sorted(final)
        return StreamHistory(candles_frame(times, [final[t] for t in times]), complete, read)
