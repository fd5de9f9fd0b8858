"""Ingestion counters: kept as plain integers, exported to Prometheus, summarised in the log.

The counters are bumped on the hot path (hundreds of thousands of trades a second in
dry mode), where ``prometheus_client.Counter.inc`` would take a lock per call. So they
are plain attributes, and :class:`IngestCollector` -- prometheus-client's documented
"custom collector" pattern for values tracked elsewhere -- reads them at scrape time.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


@dataclass
class IngestCounters:
    """What happened to the input so far. After a clean shutdown
    ``received + trades_repaired == published + duplicates_dropped + delivery_failed + unpublished`` and
    ``sum(rejected.values()) == dead_lettered + dead_letter_failed + dead_letters_unpublished``."""

    received: int = 0             # valid trades from the source
    duplicates_dropped: int = 0   # valid trades seen before (same pair and trade id)
    enqueued: int = 0             # handed to the Kafka producer
    published: int = 0            # acknowledged by Kafka (delivery report without error)
    delivery_failed: int = 0      # delivery report with an error
    rejected: Counter[str] = field(default_factory=Counter)   # frames/trades refused, by reason
    dead_letters_enqueued: int = 0
    dead_lettered: int = 0        # rejects acknowledged on the dead-letter topic
    dead_letter_failed: int = 0
    frames: int = 0               # WebSocket frames read
    reconnects: int = 0
    sequence_gaps: int = 0        # jumps in sequence_num
    missing_frames: int = 0       # frames those jumps skipped
    backpressure_waits: int = 0   # times the producer queue was full and we waited
    gaps_seen: int = 0            # runs of trade ids the live stream skipped (streaming/ingestion/repair.py)
    trades_repaired: int = 0      # trades fetched over REST for those gaps and published marked repaired
    trades_unrecoverable: Counter[str] = field(default_factory=Counter)  # ids not repaired, by reason

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def in_flight(self) -> int:
        return self.enqueued - self.published - self.delivery_failed

    def snapshot(self) -> dict[str, Any]:
        return {
            "received": self.received, "published": self.published, "duplicates_dropped": self.duplicates_dropped,
            "rejected": self.rejected_total, "rejected_by_reason": dict(sorted(self.rejected.items())),
            "dead_lettered": self.dead_lettered, "delivery_failed": self.delivery_failed,
            "dead_letter_failed": self.dead_letter_failed, "in_flight": self.in_flight, "frames": self.frames,
            "reconnects": self.reconnects, "sequence_gaps": self.sequence_gaps,
            "missing_frames": self.missing_frames, "backpressure_waits": self.backpressure_waits,
            "gaps_seen": self.gaps_seen, "trades_repaired": self.trades_repaired,
            "trades_unrecoverable": dict(sorted(self.trades_unrecoverable.items())),
        }


class IngestCollector(Collector):
    """Exposes :class:`IngestCounters` as ``tradestream_ingest_*`` metrics."""

    def __init__(self, counters: IngestCounters, source: str, queue_length: Callable[[], int] | None = None):
        self.counters = counters
        self.source = source
        self.queue_length = queue_length

    def _counter(self, name: str, documentation: str, value: int) -> CounterMetricFamily:
        family = CounterMetricFamily(f"tradestream_ingest_{name}", documentation, labels=["source"])
        family.add_metric([self.source], value)
        return family

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        c = self.counters
        yield self._counter("trades_received", "Valid trades received from the source.", c.received)
        yield self._counter("trades_published", "Trades acknowledged by Kafka.", c.published)
        yield self._counter("duplicates_dropped", "Trades dropped as already seen (pair, trade id).",
                            c.duplicates_dropped)
        yield self._counter("delivery_failures", "Trades Kafka reported as not delivered.", c.delivery_failed)
        yield self._counter("dead_letters", "Rejects acknowledged on the dead-letter topic.", c.dead_lettered)
        yield self._counter("frames", "WebSocket frames read.", c.frames)
        yield self._counter("reconnects", "WebSocket reconnects.", c.reconnects)
        yield self._counter("sequence_gaps", "Jumps in the exchange's sequence numbers.", c.sequence_gaps)
        yield self._counter("missing_frames", "Frames skipped by sequence jumps.", c.missing_frames)
        yield self._counter("backpressure_waits", "Times the producer queue was full.", c.backpressure_waits)
        yield self._counter("gaps_seen", "Runs of trade ids the live stream skipped.", c.gaps_seen)
        yield self._counter("trades_repaired", "Trades fetched over REST to fill gaps and published.",
                            c.trades_repaired)
        unrecoverable = CounterMetricFamily("tradestream_ingest_trades_unrecoverable",
                                            "Trades of gaps that could not be repaired, by reason.",
                                            labels=["source", "reason"])
        for reason, value in sorted(c.trades_unrecoverable.items()):
            unrecoverable.add_metric([self.source, reason], value)
        yield unrecoverable
        rejected = CounterMetricFamily("tradestream_ingest_rejected", "Input refused, by reason.",
                                       labels=["source", "reason"])
        for reason, value in sorted(c.rejected.items()):
            rejected.add_metric([self.source, reason], value)
        yield rejected
        in_flight = GaugeMetricFamily("tradestream_ingest_in_flight", "Trades sent but not yet acknowledged.",
                                      labels=["source"])
        in_flight.add_metric([self.source], c.in_flight)
        yield in_flight
        if self.queue_length is not None:
            queue = GaugeMetricFamily("tradestream_ingest_producer_queue", "Messages in the producer's queue.",
                                      labels=["source"])
            queue.add_metric([self.source], self.queue_length())
            yield queue


class MetricsServer:
    """Serves one registry over HTTP on ``port`` (prometheus-client's own server thread)."""

    def __init__(self, collector: IngestCollector, port: int, host: str = "0.0.0.0"):
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(collector)
        self.port = port
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on port {port}: {exc.strerror or exc}; "
                          "choose another with --metrics-port or TRADESTREAM_INGEST_METRICS_PORT") from None
        log.info("serving Prometheus metrics on http://%s:%d/metrics", host, port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class SummaryLogger:
    """Builds the periodic one-line summary with rates since the previous line."""

    def __init__(self, counters: IngestCounters, clock: Callable[[], float] = time.monotonic):
        self.counters = counters
        self.clock = clock
        self._started = self._last_time = clock()
        self._last_received = 0
        self._last_published = 0

    def line(self, overall: bool = False) -> str:
        """Counters with rates since the previous line (``overall``: since the start)."""
        c = self.counters
        now = self.clock()
        if overall:
            self._last_time, self._last_received, self._last_published = self._started, 0, 0
        elapsed = max(now - self._last_time, 1e-9)
        received_rate = (c.received - self._last_received) / elapsed
        published_rate = (c.published - self._last_published) / elapsed
        self._last_time, self._last_received, self._last_published = now, c.received, c.published
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(c.rejected.items())) or "none"
        return (f"received={c.received} ({received_rate:.1f}/s) published={c.published} ({published_rate:.1f}/s) "
                f"in_flight={c.in_flight} duplicates_dropped={c.duplicates_dropped} rejected={c.rejected_total} "
                f"[{reasons}] dead_lettered={c.dead_lettered} delivery_failed={c.delivery_failed} "
                f"reconnects={c.reconnects} sequence_gaps={c.sequence_gaps}"
                + (f" gaps_seen={c.gaps_seen} trades_repaired={c.trades_repaired} "
                   f"trades_unrecoverable={sum(c.trades_unrecoverable.values())}" if c.gaps_seen else ""))
