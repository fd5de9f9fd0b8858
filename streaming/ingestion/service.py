"""The ingestion process: one adapter, de-duplication, the Kafka publisher, metrics, shutdown.

``run_ingestion(settings)`` is what ``tradestream ingest`` and ``python -m streaming.ingestion``
call, with the adapter of the source the settings select (``venues/registry.py``). It runs until the
source ends, ``duration_s`` passes, or SIGTERM/SIGINT arrives; then it stops reading,
flushes the producer (so every trade Kafka acknowledged is counted and nothing queued
is silently dropped) and returns an :class:`IngestReport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from streaming.ingestion.adapter import ExchangeAdapter
from streaming.ingestion.metrics import IngestCollector, IngestCounters, MetricsServer, SummaryLogger
from streaming.ingestion.publisher import KafkaTradePublisher, PublishAbandoned
from streaming.ingestion.repair import GapRepairer
from streaming.venues.registry import SOURCES, build_adapter, history_client
from streaming.venues.spec import Capability
from tradestream.ingest.columns import TradeColumns
from tradestream.ingest.dedupe import TradeDeduplicator
from tradestream.ingest.pairs import pair_source_from_settings
from tradestream.ingest.trade import TradeRecord
from tradestream.ingest.validation import Rejection
from tradestream.settings import IngestMode, Settings

log = logging.getLogger(__name__)

#: After stop, how long an adapter may take to finish the batch in hand.
ADAPTER_GRACE_S = 10.0
_DELIVERY_POLL_S = 0.1


@dataclass
class IngestReport:
    """How a run went. ``clean`` means every trade taken in was acknowledged by Kafka."""

    source: str
    stopped_by: str
    elapsed_s: float
    counters: IngestCounters
    unacknowledged: int = 0
    error: str | None = None

    @property
    def unpublished(self) -> int:
        c = self.counters
        return c.received + c.trades_repaired - c.duplicates_dropped - c.enqueued

    @property
    def clean(self) -> bool:
        c = self.counters
        return (self.error is None and self.unacknowledged == 0 and self.unpublished == 0
                and c.delivery_failed == 0 and c.dead_letter_failed == 0)


class IngestionService:
    """Runs one adapter into Kafka; it is the adapter's :class:`TradeSink`."""

    def __init__(self, adapter: ExchangeAdapter, publisher: KafkaTradePublisher, counters: IngestCounters, *,
                 dedupe_window: int = 100_000, log_every_s: float = 30.0, metrics_port: int | None = None,
                 shutdown_timeout_s: float = 30.0, repair: Callable[[IngestionService], GapRepairer] | None = None):
        self.adapter = adapter
        self.publisher = publisher
        self.counters = counters
        self.dedupe = TradeDeduplicator(dedupe_window) if adapter.deduplicate else None
        self.log_every_s = log_every_s
        self.metrics_port = metrics_port
        self.shutdown_timeout_s = shutdown_timeout_s
        self.source = f"ingest:{adapter.name}"
        self.stop_event = asyncio.Event()
        self._stopped_by: str | None = None
        self._summary = SummaryLogger(counters)
        #: Fills gaps in the live trade ids over REST (venues with a history), else None.
        self.repairer = repair(self) if repair is not None else None

    # ------------------------------------------------------------- TradeSink

    async def trades(self, trades: Sequence[TradeRecord] | TradeColumns, ingest_time_ns: int | None = None) -> None:
        counters = self.counters
        counters.received += len(trades)
        if self.repairer is not None:
            if isinstance(trades, TradeColumns):
                trades = trades.to_records()
            self.repairer.observe(trades)
        if self.dedupe is not None:
            if isinstance(trades, TradeColumns):
                trades = trades.to_records()
            is_new = self.dedupe.is_new
            fresh = [trade for trade in trades if is_new(trade.currency_pair, trade.trade_id)]
            counters.duplicates_dropped += len(trades) - len(fresh)
            trades = fresh
        if trades:
            await self.publisher.publish_trades(trades, ingest_time_ns or time.time_ns())

    async def rejected(self, rejection: Rejection) -> None:
        self.counters.rejected[rejection.reason.value] += 1
        log.debug("rejected (%s): %s", rejection.reason.value, rejection.detail)
        await self.publisher.publish_dead_letter(rejection, self.source)

    def frame_received(self) -> None:
        self.counters.frames += 1

    def reconnecting(self) -> None:
        self.counters.reconnects += 1
        if self.repairer is not None:
            self.repairer.reconnected()

    async def repaired(self, trades: list[TradeRecord]) -> int:
        """Trades fetched over REST for a gap: those not published yet go to Kafka marked repaired.
        Returns how many were published."""
        if self.dedupe is not None:
            is_new = self.dedupe.is_new
            trades = [trade for trade in trades if is_new(trade.currency_pair, trade.trade_id)]
        if trades:
            await self.publisher.publish_trades(trades, time.time_ns(), repaired=True)
        return len(trades)

    def sequence_gap(self, missing_frames: int) -> None:
        self.counters.sequence_gaps += 1
        self.counters.missing_frames += missing_frames

    # ------------------------------------------------------------- lifecycle

    def request_stop(self, why: str) -> None:
        if self._stopped_by is None:
            self._stopped_by = why
            log.info("stopping (%s): no more input is read; flushing Kafka", why)
        self.stop_event.set()

    async def run(self, duration_s: float | None = None) -> IngestReport:
        started = time.monotonic()
        self._summary = SummaryLogger(self.counters)
        metrics = None
        if self.metrics_port is not None:
            metrics = MetricsServer(IngestCollector(self.counters, self.source, lambda: self.publisher.queue_length),
                                    self.metrics_port)
        log.info("ingesting %s -> Kafka %s topic %r (dead letters to %r)", self.adapter.describe(),
                 self.publisher.bootstrap, self.publisher.trades_topic, self.publisher.dlq_topic)
        adapter_task = asyncio.create_task(self.adapter.run(self, self.stop_event), name="adapter")
        helpers = [asyncio.create_task(self._log_periodically(), name="summary"),
                   asyncio.create_task(self._serve_delivery_reports(), name="delivery-reports")]
        if self.repairer is not None:
            helpers.append(asyncio.create_task(self.repairer.run(self.stop_event), name="gap-repair"))
        stop_waiter = asyncio.create_task(self.stop_event.wait())
        error: str | None = None
        try:
            await asyncio.wait({adapter_task, stop_waiter}, timeout=duration_s,
                               return_when=asyncio.FIRST_COMPLETED)
            if adapter_task.done():
                self.request_stop("source finished")
            elif not self.stop_event.is_set():
                self.request_stop(f"duration {duration_s:g}s reached")
            self.publisher.begin_shutdown(self.shutdown_timeout_s)
            try:
                await asyncio.wait_for(asyncio.shield(adapter_task), timeout=ADAPTER_GRACE_S)
            except TimeoutError:
                log.error("the %s adapter did not stop within %.0fs; cancelling it", self.adapter.name,
                          ADAPTER_GRACE_S)
                adapter_task.cancel()
            error = _adapter_error(adapter_task)
        finally:
            stop_waiter.cancel()
            for helper in helpers:
                helper.cancel()
            for task in (stop_waiter, *helpers):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if self.repairer is not None:
                await self.repairer.client.aclose()
            unacknowledged = self.publisher.close(self.shutdown_timeout_s)
            if metrics is not None:
                metrics.close()
        report = IngestReport(source=self.adapter.name, stopped_by=self._stopped_by or "unknown",
                              elapsed_s=time.monotonic() - started, counters=self.counters,
                              unacknowledged=unacknowledged, error=error)
        log.info("final: %s", self._summary.line(overall=True))
        return report

    async def _log_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.log_every_s)
            log.info("%s", self._summary.line())

    async def _serve_delivery_reports(self) -> None:
        # Publishing polls too; this keeps counters moving while the source is quiet.
        while True:
            self.publisher.poll(0)
            await asyncio.sleep(_DELIVERY_POLL_S)


def _adapter_error(task: asyncio.Task) -> str | None:
    if task.cancelled():
        return "the adapter was cancelled after the grace period"
    exc = task.exception()
    if exc is None:
        return None
    if isinstance(exc, PublishAbandoned):
        log.error("%s", exc)
        return str(exc)
    log.error("the %s adapter failed: %s", task.get_name(), exc, exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def gap_repair_for(settings: Settings, source_name: str) -> Callable[[IngestionService], GapRepairer] | None:
    """How the service repairs gaps of this source: with the venue's REST history in wet mode, when the venue
    has one and ``ingestion.repair_gaps`` is on; None otherwise."""
    ingestion = settings.ingestion
    spec = SOURCES.get(source_name)
    if (not ingestion.repair_gaps or IngestMode(ingestion.mode) is not IngestMode.WET or spec is None
            or Capability.HISTORY not in spec.capabilities):
        return None

    def build(service: IngestionService) -> GapRepairer:
        pairs = pair_source_from_settings(ingestion).pairs()
        return GapRepairer(history_client(source_name, settings), pairs, service.counters, service.repaired,
                           delay_s=ingestion.repair_delay_s)

    return build


def run_ingestion(settings: Settings, *, adapter: ExchangeAdapter | None = None,
                  handle_signals: bool = True) -> IngestReport:
    """Run ingestion to the end (source exhausted, duration, or SIGTERM/SIGINT); ``adapter`` defaults
    to the source the settings select."""
    ingestion = settings.ingestion
    adapter = adapter or build_adapter(settings)
    counters = IngestCounters()
    publisher = KafkaTradePublisher(settings.kafka, ingestion, counters)
    service = IngestionService(adapter, publisher, counters, dedupe_window=ingestion.dedupe_window,
                               log_every_s=ingestion.log_every_s, metrics_port=ingestion.metrics_port,
                               shutdown_timeout_s=ingestion.shutdown_timeout_s,
                               repair=gap_repair_for(settings, adapter.name))

    async def main() -> IngestReport:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for signum in signals:
            loop.add_signal_handler(signum, service.request_stop, signal.Signals(signum).name)
        try:
            duration = ingestion.duration_s if ingestion.duration_s and math.isfinite(ingestion.duration_s) else None
            return await service.run(duration)
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
