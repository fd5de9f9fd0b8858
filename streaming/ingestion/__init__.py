"""Market-data ingestion: exchange trades into Kafka ``trades`` (bad input to ``trades.dlq``).

- ``adapter``: the :class:`ExchangeAdapter` interface every source implements.
- ``venues``: the sources, one folder each (``coinbase/`` live, ``simulator/`` dry, ``replay/``
  file), and ``venues/registry.py``, which maps source names and modes to them.
- ``publisher``: the idempotent confluent-kafka producer with backpressure.
- ``metrics``: counters, Prometheus exposition, the periodic log summary.
- ``service``: one adapter + de-duplication + publisher + shutdown; ``run_ingestion``.
- ``options``: command-line options -> Settings; ``__main__``: ``python -m streaming.ingestion``.

Validation, the trade record, its encoding, de-duplication and reconnect arithmetic shared
by every source live in :mod:`tradestream.ingest`.
"""
