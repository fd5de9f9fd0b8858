"""Fixtures for the pipeline tests: private topics on the shared test broker, a trade publisher."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import pytest
from confluent_kafka import Producer

from streaming.kafka.topics import ensure_topics
from tradestream.candles.codec import encode_trade
from tradestream.candles.model import TradeTick
from tradestream.settings import KafkaSettings, PipelineSettings, Settings


def private_settings(base: Settings, *, lateness_s: int = 30, fill_cap_s: int = 240, partitions: int = 3) -> Settings:
    """``base`` with its own trades/candles/signals/dlq topics (created) and consumer group."""
    tag = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(**{**base.kafka.model_dump(), "trades_topic": f"trades-{tag}",
                             "candles_topic": f"candles-{tag}", "signals_topic": f"signals-{tag}",
                             "dlq_topic": f"trades.dlq-{tag}", "topic_partitions": partitions})
    pipeline = PipelineSettings(allowed_lateness_s=lateness_s, fill_forward_cap_s=fill_cap_s,
                                consumer_group=f"candles-{tag}")
    settings = base.model_copy(update={"kafka": kafka, "pipeline": pipeline})
    ensure_topics(settings)
    return settings


@pytest.fixture
def topics(kafka: Settings) -> Settings:
    return private_settings(kafka)


class TradePublisher:
    """Publishes trades keyed by pair, as the ingestion service does."""

    def __init__(self, settings: Settings):
        self.topic = settings.kafka.trades_topic
        self._producer = Producer({**settings.kafka.client_config(), "enable.idempotence": True, "linger.ms": 5})

    def publish(self, trades: Iterable[TradeTick]) -> int:
        count = 0
        for trade in trades:
            self.raw(trade.currency_pair.encode(), encode_trade(trade))
            count += 1
        self.flush()
        return count

    def raw(self, key: bytes | None, value: bytes | None) -> None:
        while True:
            try:
                self._producer.produce(self.topic, key=key, value=value)
                return
            except BufferError:
                self._producer.poll(0.1)

    def flush(self) -> None:
        left = self._producer.flush(30)
        assert left == 0, f"{left} trades not acknowledged by Kafka within 30 s"


@pytest.fixture
def publisher(topics: Settings) -> TradePublisher:
    return TradePublisher(topics)
