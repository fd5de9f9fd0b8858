"""Market-data ingestion: exchange trades into Kafka ``trades`` (bad input to ``trades.dlq``).

- ``adapter``: the :class:`ExchangeAdapter` interface every source implements.
- ``coinbase``: wet mode, the Coinbase Advanced Trade WebSocket client.
- ``simulator``: dry mode, the market simulator paced against the wall clock.
- ``replay``: a recorded trades file in event-time order.
- ``publisher``: the idempotent confluent-kafka producer with backpressure.
- ``metrics``: counters, Prometheus exposition, the periodic log summary.
- ``service``: one adapter + de-duplication + publisher + shutdown; ``run_ingestion``.

Parsing, validation and the simulator's math live in :mod:`tradestream.ingest`.
"""
