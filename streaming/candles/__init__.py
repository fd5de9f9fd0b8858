"""The candle job: Kafka ``trades`` -> 1m..1d candles -> Kafka ``candles`` (Beam on Flink).

- ``job``: ``CandleJobConfig`` (its builders ``from_settings`` and ``from_options``), the
  pipeline and how it runs (stream or batch).
- ``transforms``: the Beam transforms; the candle arithmetic lives in ``tradestream.candles``.
- ``reader``: follows ``candles`` and keeps the final version of every candle (tests,
  benchmarks, the warehouse rebuild).
- ``__main__``: ``python -m streaming.candles``, what the stream supervisors start.
"""
