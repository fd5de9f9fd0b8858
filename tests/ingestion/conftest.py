"""Fixtures for tests that ingest into Kafka: per-test trades and dead-letter topics on the session broker."""

from tests.ingestion.kafka_io import topics

__all__ = ["topics"]
