"""The signal transforms under Beam's portable FnApiRunner: keyed state and dead-letter routing.

The end-to-end test runs the same transforms on Flink; this one is the quick check of the
Beam wiring (state cells per key across bundles, outputs, tags).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from streaming.kafka.beam import KafkaBatch, KafkaRecord
from streaming.signals.live_set import LiveSetSpec
from streaming.signals.transforms import DLQ_TAG, DecodeCandles, EngineOptions, EvaluateStrategies
from tests.pipeline.test_signals_fixtures import (
    candle_records,
    decoded_frame,
    expected_signals,
    key_of_proto,
    market,
    updates,
    write_config,
)
from tradestream.v1 import market_pb2, strategy_pb2

FN_API = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
ENTRIES = (("DONCHIAN_BREAKOUT", {"entry_period": 12, "exit_period": 6}), ("TICK_VOLUME_ANALYSIS", {}))


def test_candle_batches_become_the_expected_signals_and_unusable_records_dead_letters(tmp_path):
    frames = {"BTC-USD": market(150, seed=31), "ETH-USD": market(150, seed=32)}
    records = []
    for pair, frame in frames.items():
        for i, (key, value) in enumerate(candle_records(frame, pair)):
            records.append((i, KafkaRecord("candles", 0 if pair == "BTC-USD" else 1, i, 0, key, value, None)))
    records.sort(key=lambda item: item[0])  # pairs interleaved bar by bar, in batches of 25 records
    stream = [r for _, r in records]
    stream.insert(40, KafkaRecord("candles", 0, 999, 0, b"BTC-USD|1m", b"\x01\x02 junk", None))
    batches = [KafkaBatch(None, tuple(stream[i:i + 25])) for i in range(0, len(stream), 25)]
    expected = set()
    for pair, frame in frames.items():
        expected |= expected_signals(decoded_frame(updates(frame, pair)), pair, ENTRIES)
    config = write_config(tmp_path / "live.yaml", ENTRIES)
    options = EngineOptions(LiveSetSpec.from_file(config, history_hours=168), history=None, snapshot_every=7,
                            warm_up=False)

    with TestPipeline(runner=FN_API) as p:
        decoded = p | beam.Create(batches) | DecodeCandles(history_hours=168)  # shard keys, as in the job
        signals = decoded["candles"] | EvaluateStrategies(options)
        assert_that(signals | beam.MapTuple(lambda key, value: (key, key_of_proto(strategy_pb2.Signal.FromString(
            value)))), equal_to([(k.pair.encode(), k) for k in expected]), label="signals")
        assert_that(decoded[DLQ_TAG] | beam.MapTuple(lambda key, value: (
            key, market_pb2.DeadLetter.FromString(value).reason, market_pb2.DeadLetter.FromString(value).source,
            market_pb2.DeadLetter.FromString(value).original_offset)),
            equal_to([(b"BTC-USD|1m", "undecodable_candle", "pipeline:signals", 999)]), label="dead letters")
    assert len(expected) > 10
