"""Live orders off the transaction's critical path.

The stream hands an order to ``VenueBridge.submit`` only after the transaction that
created it committed: an order the venue may fill is never one a crash could take back.
A few worker threads place and follow orders (``OrderVenue.submit`` polls until the order
is final, which can take seconds); their ``VenueReport``s queue up until the stream drains
them and books them with ``Executor.on_venue_report`` in its next transaction.

What a crash can lose is recovered by ``reconcile`` on start (the venue is asked about
every order the restored executor still holds as pending): a committed order that was
never placed is placed now (or cancelled when too old), an order placed but not yet
booked reports its fills, which the executor books once each by trade id. An order the
venue left open (no answer, still working) is looked at again after ``recheck_after_s``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from streaming.venues.spec import OrderVenue
from tradestream.execution.executor import VenueReport
from tradestream.v1 import execution_pb2 as pb

log = logging.getLogger(__name__)


class VenueBridge:
    """Places and follows live orders in worker threads; reports wait in a queue for the stream."""

    def __init__(self, venue: OrderVenue, *, workers: int = 4, recheck_after_s: float = 5.0):
        self._venue = venue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="venue")
        self._reports: queue.Queue[VenueReport] = queue.Queue()
        self._recheck_after_s = recheck_after_s
        self._busy: set[str] = set()     # client order ids a worker is placing or following
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._timers: list[threading.Timer] = []

    def submit(self, order: pb.Order) -> None:
        """Place a committed PENDING order."""
        self._start(order, reconcile=False)

    def reconcile(self, pending: Iterable[pb.Order]) -> None:
        """Ask the venue about orders the restored executor holds as pending (on start)."""
        for order in pending:
            if order.fill_model == pb.FILL_MODEL_VENUE:
                self._start(order, reconcile=True)

    def drain(self) -> list[VenueReport]:
        """The reports that arrived since the last call."""
        out = []
        while True:
            try:
                out.append(self._reports.get_nowait())
            except queue.Empty:
                return out

    def idle(self) -> bool:
        """No order is being placed or followed and no report waits (tests wait for this)."""
        with self._lock:
            return not self._busy and self._reports.empty() and not any(t.is_alive() for t in self._timers)

    def close(self) -> None:
        self._closed.set()
        for timer in self._timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _start(self, order: pb.Order, *, reconcile: bool) -> None:
        cid = order.client_order_id
        with self._lock:
            if cid in self._busy or self._closed.is_set():
                return
            self._busy.add(cid)
        copy = pb.Order()
        copy.CopyFrom(order)
        self._pool.submit(self._work, copy, reconcile)

    def _work(self, order: pb.Order, reconcile: bool) -> None:
        cid = order.client_order_id
        report = None
        try:
            if reconcile:
                reports = self._venue.reconcile([order])
                report = reports[0] if reports else None
            else:
                report = self._venue.submit(order)
        except Exception as exc:  # noqa: BLE001 - a venue failure must not stop the stream; look again later
            log.warning("order %s: the venue call failed (%s: %s); looking again in %.0f s", cid,
                        type(exc).__name__, exc, self._recheck_after_s)
        finally:
            with self._lock:
                self._busy.discard(cid)
        if report is not None:
            log.info("order %s at the venue: %s (%d fill(s))%s", cid, report.status, len(report.fills),
                     f": {report.detail}" if report.detail else "")
            self._reports.put(report)
        if report is None or report.status == "open":
            self._recheck(order)

    def _recheck(self, order: pb.Order) -> None:
        if self._closed.is_set():
            return
        timer = threading.Timer(self._recheck_after_s, self._start, args=(order,), kwargs={"reconcile": True})
        timer.daemon = True
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()
