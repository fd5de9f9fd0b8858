"""Fixtures for ingestion tests: per-test Kafka topics on the session broker, and readers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from tradestream.settings import Settings


@pytest.fixture
def topics(kafka: Settings) -> Iterator[Settings]:
    """Settings whose trades and dead-letter topics are fresh and private to this test."""
    suffix = uuid.uuid4().hex[:10]
    trades, dlq = f"trades-{suffix}", f"trades.dlq-{suffix}"
    admin = AdminClient({"bootstrap.servers": kafka.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(trades, 3, 1), NewTopic(dlq, 1, 1)]).values():
        future.result(30)
    section = kafka.kafka.model_copy(update={"trades_topic": trades, "dlq_topic": dlq})
    yield kafka.model_copy(update={"kafka": section})
    for future in admin.delete_topics([trades, dlq]).values():
        with contextlib.suppress(KafkaException):  # cleanup of a per-test topic must not fail the test
            future.result(30)
