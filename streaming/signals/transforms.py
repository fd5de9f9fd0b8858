"""The signal transforms: candle records -> keyed candles -> strategy signals.

    batches | DecodeCandles() | EvaluateStrategies(options) -> (pair, Signal bytes)

``DecodeCandles`` turns each ``KafkaBatch`` of the ``candles`` topic into
``(pair|timeframe|b<bucket>, CandleUpdate)``, one per shard, and routes records it cannot
use to the dead-letter output. ``EvaluateStrategies`` is a stateful DoFn keyed that way;
its logic is ``streaming.signals.engine.SignalEngine``, here only wired to Beam state
(``streaming.signals.state.BeamKeyState``).
"""

from __future__ import annotations

import logging
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam import coders
from apache_beam.metrics import Metrics
from apache_beam.transforms import userstate

from streaming.kafka.beam import KafkaBatch
from streaming.signals.decoding import DEAD_LETTER_REASONS, SOURCE, CandleUpdate, RejectedCandle, decode_candle
from streaming.signals.engine import DEFAULT_SNAPSHOT_EVERY, SignalEngine
from streaming.signals.history import KafkaCandleHistory
from streaming.signals.live_set import LiveSetSpec
from streaming.signals.routing import ShardRouter
from streaming.signals.state import BeamKeyState
from tradestream.candles.codec import dead_letter

log = logging.getLogger(__name__)

DLQ_TAG = "dead_letters"
METRICS_NAMESPACE = "signals"


def _worker_logging() -> None:
    """A process worker (Beam starts a bare SdkHarness) has no logging set up: log to stderr."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s [worker %(process)d] %(name)s: %(message)s")


class DecodeCandlesFn(beam.DoFn):
    """Decodes candle records; each candle goes to every shard key of its stream
    (``pair|timeframe|b<bucket>``, see ``streaming.signals.routing``), or to ``pair|timeframe`` when
    ``history_hours`` is None (no sharding)."""

    def __init__(self, history_hours: float | None = None, parallelism: int = 1):
        self._history_hours = history_hours
        self._parallelism = parallelism
        self._router: ShardRouter | None = None
        self._rejected = {reason: Metrics.counter(METRICS_NAMESPACE, f"dead_letters_{reason}")
                          for reason in DEAD_LETTER_REASONS}
        self._decoded = Metrics.counter(METRICS_NAMESPACE, "candles_decoded")

    def setup(self) -> None:
        _worker_logging()
        if self._history_hours is not None:
            self._router = ShardRouter(self._parallelism, self._history_hours)

    def process(self, batch: KafkaBatch) -> Iterator:
        for record in batch.records:
            try:
                update = decode_candle(record.value, record.key, record.partition, record.offset)
            except RejectedCandle as rejected:
                self._rejected[rejected.reason].inc()
                log.warning("%s[%d]@%d: %s (%s); sent to the dead-letter topic", record.topic, record.partition,
                            record.offset, rejected.reason, rejected.detail)
                message = dead_letter(source=SOURCE, reason=rejected.reason, detail=rejected.detail,
                                      payload=record.value, original_topic=record.topic,
                                      original_partition=record.partition, original_offset=record.offset,
                                      rejected_at_ns=time.time_ns())
                yield beam.pvalue.TaggedOutput(DLQ_TAG, (record.key or SOURCE.encode(), message.SerializeToString()))
                continue
            self._decoded.inc()
            if self._router is None:
                yield update.key, update
                continue
            # Shards without strategies drop the candle at once; routing to all of them keeps this
            # stage free of the config (the evaluators reload it on their own schedule). The state
            # key places the shard on a worker (ShardRouter); the engine knows it by update.key.
            for bucket, key in self._router.shards(update.pair, update.timeframe):
                yield key, update._replace(bucket=bucket)


class DecodeCandles(beam.PTransform):
    """KafkaBatch -> ``candles``: (state key, CandleUpdate); ``dead_letters``: (key, DeadLetter bytes)."""

    def __init__(self, history_hours: float | None = None, parallelism: int = 1):
        super().__init__()
        self._history_hours = history_hours
        self._parallelism = parallelism

    def expand(self, batches):
        fn = DecodeCandlesFn(self._history_hours, self._parallelism)
        decoded = batches | "Decode" >> beam.ParDo(fn).with_outputs(
            DLQ_TAG, main="candles")
        # a str key coder: deterministic keys for the stateful stage
        candles = decoded.candles | "Typed" >> beam.Map(lambda kv: kv).with_output_types(tuple[str, typing.Any])
        return {"candles": candles, DLQ_TAG: decoded[DLQ_TAG]}


@dataclass(frozen=True)
class EngineOptions:
    """How each worker builds its ``SignalEngine``. Picklable: travels with the pipeline."""

    live_set: LiveSetSpec
    history: KafkaCandleHistory | None = None
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    warm_up: bool = True


class EvaluateStrategiesFn(beam.DoFn):
    # meta is read on every candle (small); the snapshot only when a worker rebuilds a key
    META = userstate.ReadModifyWriteStateSpec("meta", coders.PickleCoder())
    SNAPSHOT = userstate.ReadModifyWriteStateSpec("snapshot", coders.PickleCoder())
    RECENT = userstate.BagStateSpec("recent", coders.PickleCoder())

    def __init__(self, options: EngineOptions):
        self._options = options
        self._engine: SignalEngine | None = None
        self._counters: dict[str, Any] = {}

    def _count(self, name: str, n: int) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(METRICS_NAMESPACE, name)
        counter.inc(n)

    def setup(self) -> None:
        _worker_logging()
        options = self._options
        self._engine = SignalEngine(options.live_set, history=options.history,
                                    snapshot_every=options.snapshot_every, count=self._count)
        if options.warm_up:
            self._engine.warm_up()

    def process(self, element: tuple[str, CandleUpdate], meta=beam.DoFn.StateParam(META),
                snapshot=beam.DoFn.StateParam(SNAPSHOT), recent=beam.DoFn.StateParam(RECENT)) -> Iterator:
        assert self._engine is not None, "setup() builds the engine"
        _, update = element
        signals = self._engine.on_update(update, BeamKeyState(meta, snapshot, recent))
        if signals:
            emitted_at = datetime.now(UTC)
            for signal in signals:
                yield signal.pair.encode(), signal.to_proto(emitted_at=emitted_at).SerializeToString()


class EvaluateStrategies(beam.PTransform):
    """(pair|timeframe, CandleUpdate) -> (pair bytes, tradestream.v1.Signal bytes)."""

    def __init__(self, options: EngineOptions):
        super().__init__()
        self._fn = EvaluateStrategiesFn(options)

    def expand(self, candles):
        return (candles
                | "Evaluate" >> beam.ParDo(self._fn).with_input_types(tuple[str, typing.Any])
                .with_output_types(tuple[bytes, bytes]))
