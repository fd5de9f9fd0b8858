"""Candle history for seeding the engine's windows, read from the ``candles`` topic.

A stream's records all live in one partition (the key is ``pair|timeframe``), so the
history of a stream before a record is the stream's records at smaller offsets of that
partition. The read starts at the first record whose Kafka timestamp (the candle job's
emission time, at or after the candle's window end) is at or after the oldest window
start needed, keeps the last record per window start (log order is emission order, so
that is the final revision) and stops at the record being processed.

The history is the stream's *whole* history when the read starts at offset 0 of a
partition nothing was ever deleted from; otherwise the live evaluator only signals once
it holds each strategy's full window (see ``LiveEvaluator.seed``).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streaming.pipeline.signals_engine import (
    HistoryReadError,
    RejectedCandle,
    StreamHistory,
    candles_frame,
    decode_candle,
)
from tradestream.candles.codec import candle_key
from tradestream.timeframes import NS_PER_MS, TIMEFRAME_NS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaCandleHistory:
    """``HistorySource`` over the ``candles`` topic. Picklable: travels with the pipeline."""

    bootstrap: str
    topic: str
    margin_bars: int = 16         # read a little further back than needed (clock skew, revisions)
    timeout_s: float = 60.0
    # librdkafka security settings (SASL/TLS in Kubernetes); kept out of repr: it may hold a password
    client_config: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def read(self, pair: str, timeframe: str, *, partition: int, before_offset: int, before_ms: int,
             bars: int) -> StreamHistory:
        started = time.monotonic()
        since_ms = before_ms - (bars + self.margin_bars) * (TIMEFRAME_NS[timeframe] // NS_PER_MS)
        consumer = Consumer({**dict(self.client_config), "bootstrap.servers": self.bootstrap,
                             "group.id": f"tradestream-signals-seed-{uuid.uuid4()}",
                             "enable.auto.commit": False, "enable.partition.eof": True,
                             "isolation.level": "read_committed", "logger": log})
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10)
            found = consumer.offsets_for_times([TopicPartition(self.topic, partition, max(since_ms, 0))],
                                               timeout=10)[0].offset
            start = max(low, found) if found >= 0 else before_offset
            stop = min(before_offset, high)
            complete = start == 0 and low == 0
            if start >= stop:
                return StreamHistory(None, complete)
            wanted = candle_key(pair, timeframe)
            final: dict[int, tuple[float, ...]] = {}
            read = 0
            consumer.assign([TopicPartition(self.topic, partition, start)])
            deadline = time.monotonic() + self.timeout_s
            position = start
            while position < stop:
                if time.monotonic() > deadline:
                    raise HistoryReadError(f"reading {self.topic}[{partition}] offsets {start}..{stop} for "
                                           f"{pair}|{timeframe} took over {self.timeout_s:.0f} s (at {position})")
                for message in consumer.consume(num_messages=10_000, timeout=0.5):
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            position = max(position, message.offset())
                            stop = min(stop, message.offset())  # the log ended before the expected offset
                            continue
                        raise HistoryReadError(f"reading {self.topic}[{partition}] for {pair}|{timeframe} "
                                               f"failed: {error.str()}")
                    position = message.offset() + 1
                    if message.offset() >= stop or message.key() != wanted:
                        continue
                    read += 1
                    try:
                        update = decode_candle(message.value(), message.key(), partition, message.offset())
                    except RejectedCandle:
                        continue  # the live path dead-letters it; history just skips it
                    if update.window_start_ms < before_ms:
                        final[update.window_start_ms] = update.values
        except KafkaException as exc:
            raise HistoryReadError(f"cannot read {self.topic}[{partition}] at {self.bootstrap} to seed "
                                   f"{pair}|{timeframe}: {exc}") from exc
        finally:
            consumer.close()
        log.info("read %d records of %s|%s from %s[%d] offsets %d..%d in %.2f s", read, pair, timeframe,
                 self.topic, partition, start, stop, time.monotonic() - started)
        if not final:
            return StreamHistory(None, complete, read)
        times = sorted(final)
        return StreamHistory(candles_frame(times, [final[t] for t in times]), complete, read)
