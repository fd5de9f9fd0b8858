"""Market-data ingestion: exchange trades into Kafka ``trades`` (bad input to ``trades.dlq``).

- ``adapter``: the :class:`ExchangeAdapter` interface every source implements.
- ``publisher``: the idempotent confluent-kafka producer with backpressure.
- ``metrics``: counters, Prometheus exposition, the periodic log summary.
- ``service``: one adapter + de-duplication + publisher + shutdown; ``run_ingestion``.
- ``options``: command-line options -> Settings; ``__main__``: ``python -m streaming.ingestion``.

The sources themselves (``coinbase/`` live, ``simulator/`` dry, ``replay/`` file) live in
:mod:`streaming.venues`, one folder each, with the registry that maps source names and modes
to them. Validation, the trade record, its encoding, de-duplication and reconnect arithmetic shared
by every source live in :mod:`tradestream.ingest`.
"""
