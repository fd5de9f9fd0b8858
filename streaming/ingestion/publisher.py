"""Publishing trades and dead letters to Kafka with confluent-kafka.

Guarantees:

* **No loss of acknowledged trades, no duplicates from retries**: idempotent producer
  (``enable.idempotence``), ``acks=all``; librdkafka retries until
  ``message.timeout.ms`` and keeps order per partition.
* **Bounded memory, nothing dropped when the queue is full**: the local queue holds at
  most ``producer_queue_max_messages``; when ``produce`` raises ``BufferError`` we serve
  delivery reports (``poll``) and yield to the event loop until there is room. The
  caller therefore waits, which stops reading from the source: backpressure travels up
  to the WebSocket (TCP) or the simulator clock instead of into RAM.
* **Counted delivery**: each record either ends acknowledged (``published``) or reported
  failed (``delivery_failed``); on shutdown :meth:`close` flushes and reports whatever
  Kafka never acknowledged.

How deliveries are counted. The trades producer runs with
``delivery.report.only.error=true``: librdkafka hands every *failed* delivery to our
callback, and a trade it no longer holds (``len(producer)``, its out-queue count) that
was not reported failed is, by librdkafka's contract, acknowledged. So
``published = enqueued - failed - still queued``, exact once flushed. A Python delivery
callback for every *successful* trade would build a ``Message`` object per trade and
cost a quarter of dry mode's CPU. Dead letters are few and go through their own
producer with a report per record.

Record layout: key = currency pair, value = protobuf ``tradestream.v1.Trade``, headers
``schema`` and ``schema-version`` (dead letters: ``tradestream.v1.DeadLetter`` plus
``reason``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from confluent_kafka import KafkaError, Message, Producer

from streaming.ingestion.metrics import IngestCounters
from streaming.kafka.clients import KafkaClientConfig
from tradestream.ingest.columns import TradeColumns
from tradestream.ingest.trade import (
    DEAD_LETTER_SCHEMA,
    NANOS_PER_SECOND,
    TRADE_SCHEMA,
    TRADE_SCHEMA_VERSION,
    TradeRecord,
)
from tradestream.ingest.validation import Rejection
from tradestream.ingest.wire import encode_trades
from tradestream.settings import IngestionSettings, KafkaSettings
from tradestream.v1 import market_pb2

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("tradestream.ingest.rdkafka")

TRADE_HEADERS: list[tuple[str, bytes]] = [("schema", TRADE_SCHEMA.encode()),
                                          ("schema-version", TRADE_SCHEMA_VERSION.encode())]
_BACKPRESSURE_POLL_S = 0.05


class PublishAbandoned(RuntimeError):
    """Shutdown's deadline passed while the producer queue stayed full; the record was not sent."""


def producer_config(ingestion: IngestionSettings, client_id: str) -> dict[str, object]:
    """librdkafka settings of the ingestion producers on top of the cluster's (without callbacks)."""
    return {
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": ingestion.compression,
        "linger.ms": ingestion.linger_ms,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": ingestion.producer_queue_max_messages,
        # ~1 KiB per trade is generous; the message count is the binding limit.
        "queue.buffering.max.kbytes": max(16_384, ingestion.producer_queue_max_messages),
    }


class KafkaTradePublisher:
    """Idempotent producers for the ``trades`` topic and its dead-letter topic."""

    def __init__(self, kafka: KafkaSettings, ingestion: IngestionSettings, counters: IngestCounters,
                 *, client_id: str = "tradestream-ingest"):
        self.counters = counters
        self.trades_topic = kafka.trades_topic
        self.dlq_topic = kafka.dlq_topic
        self.bootstrap = kafka.bootstrap
        common = {"error_cb": self._on_error, "logger": _rdkafka_log}
        cluster = KafkaClientConfig.from_settings(kafka)
        self._producer = cluster.producer({**producer_config(ingestion, client_id), **common,
                                           "delivery.report.only.error": True, "on_delivery": self._on_trade_failed})
        self._dlq_producer = cluster.producer({**producer_config(ingestion, f"{client_id}-dlq"), **common,
                                               "on_delivery": self._on_dead_letter_delivery})
        self._give_up_at: float | None = None
        self._failures_logged = 0

    # ------------------------------------------------------------------ sending

    async def publish_trades(self, trades: Sequence[TradeRecord] | TradeColumns, ingest_time_ns: int, *,
                             repaired: bool = False) -> None:
        """Send ``trades`` in order (``repaired``: fetched over REST to fill a gap, marked so in each Trade).
        Returns once all are queued in the producer (not yet acked)."""
        keys = trades.keys() if isinstance(trades, TradeColumns) else [trade.currency_pair for trade in trades]
        values = encode_trades(trades, ingest_time_ns, repaired=repaired)
        producer = self._producer
        produce, topic, headers = producer.produce, self.trades_topic, TRADE_HEADERS
        for sent, (key, value) in enumerate(zip(keys, values, strict=True)):
            try:
                produce(topic, value, key, headers=headers)
            except BufferError:
                try:
                    await self._produce_when_room(producer, topic, value, key, headers)
                except PublishAbandoned:
                    self.counters.enqueued += sent
                    raise
        self.counters.enqueued += len(values)
        self.poll()

    async def publish_dead_letter(self, rejection: Rejection, source: str) -> None:
        now_ns = time.time_ns()
        letter = market_pb2.DeadLetter(source=source, reason=rejection.reason.value, detail=rejection.detail,
                                       payload=rejection.payload, original_partition=-1, original_offset=-1)
        letter.rejected_at.seconds, letter.rejected_at.nanos = divmod(now_ns, NANOS_PER_SECOND)
        headers = [("schema", DEAD_LETTER_SCHEMA.encode()), ("schema-version", TRADE_SCHEMA_VERSION.encode()),
                   ("reason", rejection.reason.value.encode())]
        key = rejection.currency_pair or source
        value = letter.SerializeToString()
        try:
            self._dlq_producer.produce(self.dlq_topic, value, key, headers=headers)
        except BufferError:
            await self._produce_when_room(self._dlq_producer, self.dlq_topic, value, key, headers)
        self.counters.dead_letters_enqueued += 1
        self._dlq_producer.poll(0)

    async def _produce_when_room(self, producer: Producer, topic: str, value: bytes, key: str,
                                 headers: list[tuple[str, bytes]]) -> None:
        self.counters.backpressure_waits += 1
        while True:
            # Serving delivery reports is what frees queue space; sleep(0) lets the event
            # loop run signal handlers and keep-alives while Kafka catches up.
            producer.poll(_BACKPRESSURE_POLL_S)
            self._count_acknowledged()
            await asyncio.sleep(0)
            try:
                producer.produce(topic, value, key, headers=headers)
                return
            except BufferError:
                if self._give_up_at is not None and time.monotonic() > self._give_up_at:
                    raise PublishAbandoned(
                        f"Kafka at {self.bootstrap} accepted nothing before the shutdown deadline; "
                        "this record was never sent") from None

    # ------------------------------------------------------------------ reports

    def _count_acknowledged(self) -> None:
        """Trades librdkafka let go of without an error report were acknowledged."""
        counters = self.counters
        acknowledged = counters.enqueued - counters.delivery_failed - len(self._producer)
        # Pending log/error events also sit in the out-queue for a moment; never count down.
        if acknowledged > counters.published:
            counters.published = acknowledged

    def _on_trade_failed(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:  # not expected with delivery.report.only.error; counted by _count_acknowledged
            return
        self.counters.delivery_failed += 1
        self._log_failure(err, msg)

    def _on_dead_letter_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.counters.dead_lettered += 1
            return
        self.counters.dead_letter_failed += 1
        self._log_failure(err, msg)

    def _log_failure(self, err: KafkaError, msg: Message) -> None:
        if self._failures_logged < 20:  # a broker outage fails thousands; the count is in the metrics
            self._failures_logged += 1
            log.error("Kafka did not accept a record for %s (key %r): %s", msg.topic(), msg.key(), err)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            log.critical("Kafka producer fatal error: %s", err)
        else:
            log.warning("Kafka producer: %s", err)

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports and update the acknowledged count (call regularly when idle)."""
        self._producer.poll(timeout_s)
        self._dlq_producer.poll(0)
        self._count_acknowledged()

    @property
    def queue_length(self) -> int:
        return len(self._producer) + len(self._dlq_producer)

    # ------------------------------------------------------------------ shutdown

    def begin_shutdown(self, timeout_s: float) -> None:
        """From now on, a full queue is waited on for at most ``timeout_s``."""
        self._give_up_at = time.monotonic() + timeout_s

    def close(self, timeout_s: float) -> int:
        """Flush; return how many records Kafka had not acknowledged after ``timeout_s`` (0 = all)."""
        deadline = time.monotonic() + timeout_s
        remaining = self._producer.flush(timeout_s)
        remaining += self._dlq_producer.flush(max(0.0, deadline - time.monotonic()))
        self._count_acknowledged()
        if remaining:
            log.error("%d records were not acknowledged by Kafka at %s within %.0fs of shutdown", remaining,
                      self.bootstrap, timeout_s)
        return remaining
