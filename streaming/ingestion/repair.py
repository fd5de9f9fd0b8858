"""Repairing what the live stream missed: trades fetched over REST, published marked ``repaired``.

A live WebSocket loses trades while it reconnects (Coinbase's snapshot after a subscribe
re-sends only the most recent ones) and, rarely, skips some while connected. Where the
venue's trade ids are sequential per pair and it has a REST history (``Capability.HISTORY``),
the ingestion service runs a :class:`GapRepairer` next to the adapter:

* every delivered trade goes through ``TradeIdGaps``: a jump in a pair's ids opens a gap,
  later trades inside it close it (a snapshot arriving newest first);
* on a reconnect every pair is probed over REST after ``repair_delay_s``: a newest id above
  the newest one delivered opens a gap too (a pair quiet since the reconnect);
* a gap still open after ``repair_delay_s`` is fetched with the venue's history client
  (``trades_before`` pages, newest first) and handed to the service, which drops what it
  already published (the same de-duplication as the live trades) and publishes the rest to
  ``trades`` under the pair's key, with ``Trade.repaired`` set.

Counters: ``gaps_seen``, ``trades_repaired`` and ``trades_unrecoverable`` by reason:
``missing_at_venue`` (the venue does not return the id either), ``rest_failed`` (retries ran
out, or a page stayed malformed), ``too_many`` (a gap larger than ``max_ids``, 100,000 ids: import it instead).

Repaired trades usually reach Kafka later than their neighbours: the candle job revises the
minute when they come within its allowed lateness; later ones go to ``trades.dlq`` as
``late`` like any late trade, still land in DuckDB through the warehouse's ``trades`` asset
(``source = 'repair'``), and the warehouse's ``candles`` asset rebuilds those hours from
DuckDB trades (docs/history.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from streaming.ingestion.metrics import IngestCounters
from tradestream.history.ids import IdSpan, missing_runs
from tradestream.history.venue import HistoryClient, HistoryError, TradePage
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.trade_gaps import OpenGap, TradeIdGaps
from tradestream.timeframes import NS_PER_SECOND

log = logging.getLogger(__name__)

MISSING_AT_VENUE = "missing_at_venue"
REST_FAILED = "rest_failed"
TOO_MANY = "too_many"


class GapRepairer:
    """Finds gaps in the trades a live adapter delivers and fills them over REST."""

    def __init__(self, client: HistoryClient, pairs: Sequence[str], counters: IngestCounters,
                 publish: Callable[[list[TradeRecord]], Awaitable[int]], *, delay_s: float = 2.0,
                 max_ids: int = 100_000, check_every_s: float = 0.25):
        self.client = client
        self.exchange = client.exchange
        self.pairs = list(pairs)
        self.counters = counters
        self.publish = publish
        self.delay_ns = int(delay_s * NS_PER_SECOND)
        self.max_ids = max_ids
        self.check_every_s = check_every_s
        self.gaps = TradeIdGaps()
        self._probe_at_ns: int | None = None
        self._busy = False

    # ------------------------------------------------------------------ from the service

    def observe(self, trades: Sequence[TradeRecord], now_ns: int | None = None) -> None:
        now_ns = time.time_ns() if now_ns is None else now_ns
        before = self.gaps.gaps_seen
        for trade in trades:
            if trade.exchange == self.exchange:
                span = self.gaps.observe(trade.currency_pair, trade.trade_id, now_ns)
                if span is not None:
                    log.info("%s: trade ids jumped over %s (%d missing)", trade.currency_pair, span, len(span))
        self.counters.gaps_seen += self.gaps.gaps_seen - before

    def reconnected(self, now_ns: int | None = None) -> None:
        """A connection dropped: probe every pair's newest id once the new connection had time to deliver."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        self._probe_at_ns = now_ns + self.delay_ns

    @property
    def idle(self) -> bool:
        """Nothing open, nothing being fetched, no probe due: what a test waits for."""
        return not self._busy and self._probe_at_ns is None and not any(self.gaps.open.values())

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.repair_due(time.time_ns())
            except Exception:  # noqa: BLE001 - a repair failure must never stop ingestion
                log.exception("gap repair failed; the live stream goes on")
            try:
                await asyncio.wait_for(stop.wait(), self.check_every_s)
            except TimeoutError:
                pass

    async def repair_due(self, now_ns: int) -> None:
        self._busy = True
        try:
            if self._probe_at_ns is not None and now_ns >= self._probe_at_ns:
                self._probe_at_ns = None
                await self._probe(now_ns)
            for gap in self.gaps.due(now_ns, self.delay_ns):
                await self._repair(gap)
        finally:
            self._busy = False

    async def _probe(self, now_ns: int) -> None:
        for pair in self.pairs:
            known = self.gaps.newest.get(pair)
            if known is None:
                continue
            try:
                newest = await self.client.newest_trade(pair)
            except HistoryError as exc:
                log.warning("%s: could not ask the venue for its newest trade after a reconnect: %s", pair, exc)
                continue
            if newest is not None and newest.trade_id > known:
                self.gaps.newest[pair] = newest.trade_id
                span = IdSpan(known + 1, newest.trade_id)
                self.gaps.open_gap(pair, span, now_ns - self.delay_ns)   # due now: the stream had its chance
                self.counters.gaps_seen += 1
                log.info("%s: after the reconnect the venue's newest id is %d, %d above the newest delivered",
                         pair, newest.trade_id, len(span))

    async def _repair(self, gap: OpenGap) -> None:
        pair, span = gap.pair, gap.span
        if len(span) > self.max_ids:
            self._unrecoverable(pair, span, TOO_MANY, len(span))
            return
        pages: list[TradePage] = []
        cursor = span.last + 1
        try:
            while cursor > span.first:
                page = await self.client.trades_before(pair, cursor, min(self.client.page_limit, cursor - span.first))
                inside = (page.trade_id >= span.first) & (page.trade_id < cursor)
                pages.append(page.take(np.flatnonzero(inside)))
                if not len(page) or page.trade_id.min() <= span.first:
                    break
                cursor = int(page.trade_id.min())
        except HistoryError as exc:
            log.warning("%s: repairing ids %s failed: %s", pair, span, exc)
            fetched = TradePage.concat(pages)
            self._unrecoverable(pair, span, REST_FAILED, len(span) - len(np.unique(fetched.trade_id)))
            await self._publish(pair, fetched)
            return
        fetched = TradePage.concat(pages)
        missing = missing_runs(fetched.trade_id, span)
        for run in missing:
            self._unrecoverable(pair, run, MISSING_AT_VENUE, len(run))
        await self._publish(pair, fetched)

    async def _publish(self, pair: str, page: TradePage) -> None:
        if not len(page):
            return
        _, first = np.unique(page.trade_id, return_index=True)
        page = page.take(np.sort(first))
        order = np.argsort(page.trade_id)   # oldest first, as the stream would have sent them
        records = [TradeRecord(self.exchange, pair, str(i), p, s, TakerSide(int(side)), t) for i, t, p, s, side in zip(
            page.trade_id[order].tolist(), page.event_ns[order].tolist(), page.price[order].tolist(),
            page.size[order].tolist(), page.taker_side[order].tolist(), strict=True)]
        published = await self.publish(records)
        self.counters.trades_repaired += published
        log.info("%s: %d trade(s) repaired over REST (%d already delivered)", pair, published,
                 len(records) - published)

    def _unrecoverable(self, pair: str, span: IdSpan, reason: str, count: int) -> None:
        if count <= 0:
            return
        self.counters.trades_unrecoverable[reason] += count
        log.warning("%s: %d trade(s) of ids %s cannot be repaired (%s)", pair, count, span, reason)
