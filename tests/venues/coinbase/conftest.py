"""Fixtures of the Coinbase venue tests: the ingestion tests' private Kafka topics (the live and repair tests
publish through the real ingestion service)."""

from tests.ingestion.conftest import topics  # noqa: F401 - a fixture, found by pytest in this module

