"""The live Coinbase adapter: the Advanced Trade WebSocket feed (wet mode).

One connection per ``products_per_connection`` pairs, each subscribed to
``market_trades`` and ``heartbeats`` (without heartbeats Coinbase closes quiet
connections). Each connection runs its own loop: connect, subscribe, read until the
connection drops or goes silent for ``stale_after_s``, wait a jittered exponential
backoff, reconnect and subscribe again. The snapshot Coinbase sends after every
subscribe overlaps trades already published; the sink drops those by (pair, trade id).

The reconnect loop is ours rather than ``websockets``' ``async for ... in connect()``:
that loop reconnects immediately after an established connection drops (it only backs
off on failed handshakes), and we need backoff after drops too, a sequence tracker reset
per connection, resubscription, and a reconnect counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from streaming.ingestion.adapter import ExchangeAdapter, TradeSink, wait_or_stop
from streaming.venues.coinbase.parsing import EXCHANGE, InvalidFrame, parse_frame, subscribe_requests
from streaming.venues.coinbase.settings import CoinbaseSettings
from tradestream.backoff import Backoff
from tradestream.ingest.pairs import pair_source_from_settings, split_into_connections
from tradestream.ingest.sequence import SequenceTracker
from tradestream.ingest.validation import Rejection, RejectReason, TimeBounds
from tradestream.settings import Settings, check_websocket_url

log = logging.getLogger(__name__)

#: A connection that lived this long is considered healthy: the next drop reconnects fast.
STABLE_CONNECTION_S = 10.0
#: Frames can be large (a snapshot of many pairs); refuse anything beyond this.
MAX_FRAME_BYTES = 16 * 2**20


class CoinbaseAdapter(ExchangeAdapter):
    name = EXCHANGE
    deduplicate = True

    def __init__(self, ws_url: str, products: list[str], *, products_per_connection: int = 15,
                 bounds: TimeBounds | None = None, reconnect_base_s: float = 0.5, reconnect_max_s: float = 30.0,
                 stale_after_s: float = 30.0, open_timeout_s: float = 10.0, rng: random.Random | None = None):
        self.ws_url = check_websocket_url(ws_url)
        self.groups = split_into_connections(products, products_per_connection)
        self.known_pairs = frozenset(products)
        self.bounds = bounds or TimeBounds(max_future_s=300.0, max_age_s=7 * 86400.0)
        self.reconnect_base_s = reconnect_base_s
        self.reconnect_max_s = reconnect_max_s
        self.stale_after_s = stale_after_s
        self.open_timeout_s = open_timeout_s
        self.rng = rng or random.Random()
        self.sequence_trackers = [SequenceTracker() for _ in self.groups]

    @classmethod
    def from_settings(cls, settings: Settings) -> CoinbaseAdapter:
        """The adapter as configured: ``[coinbase]`` for the URL, ``[ingestion]`` for pairs and timing."""
        ingestion = settings.ingestion
        return cls(
            settings.venue(CoinbaseSettings).ws_url, pair_source_from_settings(ingestion).pairs(),
            products_per_connection=ingestion.products_per_connection,
            bounds=TimeBounds(max_future_s=ingestion.max_future_skew_s, max_age_s=ingestion.max_trade_age_s),
            reconnect_base_s=ingestion.reconnect_base_s, reconnect_max_s=ingestion.reconnect_max_s,
            stale_after_s=ingestion.stale_after_s)

    def describe(self) -> str:
        return (f"coinbase: {self.ws_url}, {len(self.known_pairs)} pairs on {len(self.groups)} connection(s)")

    async def run(self, sink: TradeSink, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._connection_loop(index, group, sink, stop)
                               for index, group in enumerate(self.groups)))

    async def _connection_loop(self, index: int, products: list[str], sink: TradeSink, stop: asyncio.Event) -> None:
        backoff = Backoff(self.reconnect_base_s, self.reconnect_max_s, jitter=True, rng=self.rng)
        tracker = self.sequence_trackers[index]
        attempt = 0
        while not stop.is_set():
            if attempt:
                delay = backoff.next_delay()
                sink.reconnecting()
                log.info("connection %d: reconnecting in %.2fs (attempt %d)", index, delay, attempt)
                if await wait_or_stop(stop, delay):
                    return
            attempt += 1
            tracker.reset()
            opened_at = time.monotonic()
            try:
                async with connect(self.ws_url, open_timeout=self.open_timeout_s, max_size=MAX_FRAME_BYTES,
                                   close_timeout=2) as ws:
                    for request in subscribe_requests(products):
                        await ws.send(json.dumps(request))
                    log.info("connection %d: subscribed to %d products on %s", index, len(products), self.ws_url)
                    await self._read(index, ws, sink, stop, tracker)
            except ConnectionClosed as exc:
                if not stop.is_set():
                    log.warning("connection %d: closed by the server (%s)", index, exc)
            except TimeoutError:
                log.warning("connection %d: no message for %.0fs or handshake timed out; reconnecting",
                            index, self.stale_after_s)
            except InvalidURI as exc:
                raise ValueError(f"websocket url {self.ws_url!r} is invalid: {exc}; fix --ws-url or "
                                 "TRADESTREAM_COINBASE_WS_URL") from None
            except (OSError, InvalidHandshake) as exc:
                log.warning("connection %d: cannot connect to %s: %s", index, self.ws_url, exc)
            if time.monotonic() - opened_at >= STABLE_CONNECTION_S:
                backoff.reset()

    async def _read(self, index: int, ws: ClientConnection, sink: TradeSink, stop: asyncio.Event,
                    tracker: SequenceTracker) -> None:
        # Closing the socket is how a stop interrupts a pending recv(); the frame being
        # handled when stop arrives is still handed to the sink in full.
        async def close_on_stop() -> None:
            await stop.wait()
            await ws.close()

        closer = asyncio.create_task(close_on_stop())
        try:
            while not stop.is_set():
                async with asyncio.timeout(self.stale_after_s):
                    raw = await ws.recv()
                await self._handle(index, raw, sink, tracker)
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer

    @staticmethod
    def _observe_sequence(index: int, sequence_num: int, sink: TradeSink, tracker: SequenceTracker) -> None:
        missing = tracker.observe(sequence_num)
        if missing:
            log.warning("connection %d: sequence_num jumped to %d, %d frame(s) missing", index, sequence_num, missing)
            sink.sequence_gap(missing)

    async def _handle(self, index: int, raw: str | bytes, sink: TradeSink, tracker: SequenceTracker) -> None:
        sink.frame_received()
        now_ns = time.time_ns()
        payload = raw.encode() if isinstance(raw, str) else raw
        try:
            frame = parse_frame(raw, now_ns=now_ns, bounds=self.bounds, known_pairs=self.known_pairs)
        except InvalidFrame as exc:
            await self._reject_frame(index, exc, payload, sink, tracker)
            return
        except Exception as exc:  # noqa: BLE001 - no input may stop ingestion; a parser bug is logged loudly
            log.exception("connection %d: could not process a frame", index)
            await sink.rejected(Rejection(RejectReason.UNPROCESSABLE, f"{type(exc).__name__}: {exc}", payload))
            return
        self._observe_sequence(index, frame.sequence_num, sink, tracker)
        if frame.subscriptions is not None:
            log.info("connection %d: subscriptions confirmed: %s", index, frame.subscriptions)
        for rejection in frame.rejections:
            await sink.rejected(rejection)
        if frame.trades:
            await sink.trades(frame.trades, now_ns)

    async def _reject_frame(self, index: int, exc: InvalidFrame, payload: bytes, sink: TradeSink,
                            tracker: SequenceTracker) -> None:
        if exc.sequence_num is not None:
            self._observe_sequence(index, exc.sequence_num, sink, tracker)
        if exc.reason is RejectReason.EXCHANGE_ERROR:
            log.error("connection %d: %s", index, exc.detail)
        await sink.rejected(exc.rejection(payload))
