"""The signal job: Kafka ``candles`` -> the live strategy engine -> Kafka ``signals`` (Beam on Flink).

- ``decoding``: a ``candles`` record decoded and validated once, or its dead-letter reason.
- ``routing``: shard keys and where Flink places them (``flink_subtask``, ``ShardRouter``).
- ``state``: a key's persistent state (``KeyState``; Beam and in-memory implementations).
- ``engine``: ``SignalEngine``, the evaluation of one key's candles, without Beam.
- ``live_set``: the live strategy set the engine runs, and its reloading.
- ``history``: candle history for seeding windows, read from the ``candles`` topic.
- ``transforms``: the Beam transforms around the engine.
- ``job``: ``SignalJobConfig`` (``from_settings``, ``from_options``), the pipeline, running it.
- ``__main__``: ``python -m streaming.signals``, what the stream supervisors start.
"""
