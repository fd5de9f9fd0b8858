"""The candle transforms under TestPipeline: routing, event-time behaviour, agreement with SQL.

Batch cases run on Beam's FnApiRunner (portable execution in-process, like Flink's SDK
harness); the event-time cases use the DirectRunner, which runs TestStream with watermark
control.
"""

from __future__ import annotations

import pickle

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from streaming.candles.transforms import DLQ_TAG, BuildCandles, DecodeTrades
from streaming.kafka.beam import KafkaBatch, KafkaRecord
from tradestream.candles.codec import encode_trade
from tradestream.candles.model import TradeTick
from tradestream.candles.reference import diff_candles, reference_candles_for_ticks
from tradestream.candles.scenario import generate_scenario
from tradestream.timeframes import TIMEFRAMES
from tradestream.v1 import market_pb2

FN_API = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
S = 1_000_000_000
M = 60 * S
T0 = 1_700_006_400 * S  # a UTC midnight


def record(offset: int, value: bytes | None, key: bytes | None = None) -> KafkaRecord:
    return KafkaRecord("trades", 0, offset, 0, key, value, None)


def trade(pair: str, trade_id: str, at_ns: int, price: float, size: float = 1.0) -> bytes:
    return encode_trade(TradeTick("coinbase", pair, trade_id, at_ns, price, size))


def reasons(dead_letters):
    return dead_letters | beam.Map(lambda kv: (kv[0], market_pb2.DeadLetter.FromString(kv[1]).reason,
                                               market_pb2.DeadLetter.FromString(kv[1]).original_offset))


def test_decode_trades_groups_by_pair_and_routes_bad_and_late_records_to_the_dead_letter_output():
    negative = market_pb2.Trade(exchange="coinbase", currency_pair="ETH-USD", trade_id="9", price=-1.0, size=1.0)
    negative.event_time.FromNanoseconds(T0 + 5 * M)
    batch = KafkaBatch(watermark_us=(T0 + 3 * M) // 1000, records=(
        record(0, trade("BTC-USD", "1", T0 + 5 * M, 10.0), b"BTC-USD"),
        record(1, b"\xff\xff not a protobuf"),
        record(2, negative.SerializeToString(), b"ETH-USD"),
        record(3, trade("ETH-USD", "2", T0 + 5 * M, 20.0), b"BTC-USD"),  # key and pair disagree
        record(4, trade("ETH-USD", "3", T0 + M + 10 * S, 21.0), b"ETH-USD"),  # minute ended 2 min before W: late
        record(5, trade("ETH-USD", "4", T0 + 2 * M + 40 * S, 22.0), b"ETH-USD"),  # within 30 s: kept
        record(6, trade("BTC-USD", "5", T0 + 6 * M, 11.0), b"BTC-USD"),
    ))
    with TestPipeline(runner=FN_API) as p:
        out = p | beam.Create([batch]) | DecodeTrades(allowed_lateness_s=30)
        assert_that(out["trades"] | beam.MapTuple(lambda key, v: (key, v[0], tuple(t[1] for t in v[1]))),
                    equal_to([(("BTC-USD", T0 + 5 * M), (T0 + 3 * M) // 1000, ("1",)),
                              (("BTC-USD", T0 + 6 * M), (T0 + 3 * M) // 1000, ("5",)),
                              (("ETH-USD", T0 + 2 * M), (T0 + 3 * M) // 1000, ("4",))]), label="trades")
        assert_that(reasons(out[DLQ_TAG]), equal_to([
            (b"pipeline:candles", "undecodable", 1), (b"ETH-USD", "invalid_trade", 2),
            (b"BTC-USD", "invalid_trade", 3), (b"ETH-USD", "late", 4)]), label="dead letters")


def test_late_trades_revise_closed_minutes_and_beyond_lateness_go_to_the_dead_letter_topic():
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True

    def batch(watermark_ns, *trades):
        return KafkaBatch(watermark_ns // 1000 if watermark_ns else None,
                          tuple(record(i, trade("SOL-USD", tid, at, price), b"SOL-USD")
                                for i, (tid, at, price) in enumerate(trades)))

    stream = (TestStream()
              .advance_watermark_to(T0 / S)
              .add_elements([batch(None, ("1", T0 + 1 * S, 10.0), ("2", T0 + 50 * S, 11.0))])
              .advance_watermark_to((T0 + M + 10 * S) / S)  # minute 0 closes
              .add_elements([batch(T0 + M + 10 * S, ("3", T0 + 55 * S, 15.0))])  # 10 s past the minute: revises it
              .add_elements([batch(T0 + M + 10 * S, ("3", T0 + 55 * S, 15.0))])  # duplicate: changes nothing
              .advance_watermark_to((T0 + 3 * M) / S)  # minutes 1, 2 fill; minute 0 is final
              .add_elements([batch(T0 + 3 * M, ("4", T0 + 30 * S, 99.0))])  # beyond lateness
              .advance_watermark_to_infinity())
    with TestPipeline(runner="DirectRunner", options=options) as p:
        decoded = p | stream | DecodeTrades(allowed_lateness_s=30)
        candles = decoded["trades"] | BuildCandles(("1m",), allowed_lateness_s=30, fill_forward_cap_s=120)
        assert_that(candles | beam.Map(lambda c: ((c.window_start_ns - T0) // M, c.close, c.trade_count,
                                                  c.filled, c.revision)),
                    equal_to([(0, 11.0, 2, False, 0), (0, 15.0, 3, False, 1), (1, 15.0, 0, True, 0),
                              (2, 15.0, 0, True, 0)]), label="candles")
        assert_that(reasons(decoded[DLQ_TAG]), equal_to([(b"SOL-USD", "late", 0)]), label="late")


class AppendTo(beam.DoFn):
    """Collects elements into a file. Used instead of assert_that where elements come from
    chained event-time timers: FnApiRunner may run a downstream GroupByKey (as assert_that and
    ToList use) before the last timers of upstream stages fire, and drop their output."""

    def __init__(self, path):
        self._path = str(path)

    def process(self, element):
        with open(self._path, "ab") as f:
            pickle.dump(element, f)


def read_all(path):
    out = []
    with open(path, "rb") as f:
        while True:
            try:
                out.append(pickle.load(f))
            except EOFError:
                return out


def test_batch_transforms_agree_with_the_sql_reference_for_every_timeframe(tmp_path):
    scenario = generate_scenario(seed=11, start_ns=T0 - 10 * M, minutes=24, boundary_minute=14)
    until = scenario.end_ns - M  # batch bound: the last (partial) minute is outside
    trades = [t for t in scenario.accepted if t.event_ns < until]
    batches = [KafkaBatch(None, tuple(record(i, encode_trade(t), t.currency_pair.encode())
                                      for i, t in enumerate(trades[start:start + 500], start)))
               for start in range(0, len(trades), 500)]
    expected = reference_candles_for_ticks(trades, timeframes=TIMEFRAMES, until_ns=until, fill_cap_s=240)

    sink = tmp_path / "candles.pickle"
    with TestPipeline(runner="BundleBasedDirectRunner") as p:
        decoded = p | beam.Create(batches) | DecodeTrades(allowed_lateness_s=30, until_ns=until)
        _ = (decoded["trades"]
             | BuildCandles(TIMEFRAMES, 30, 240, fill_until_ns=until)
             | beam.ParDo(AppendTo(sink)))
    candles = read_all(sink)
    problems = diff_candles(candles, expected, limit=5)
    assert not problems, "\n".join(problems)
    assert len(candles) == len(expected), "every candle is emitted exactly once"
    assert all(c.revision == 0 for c in candles), "a batch run has nothing late to revise"
