"""The seam between a market-data source and the rest of ingestion.

An :class:`ExchangeAdapter` knows one source -- an exchange's WebSocket, the simulator,
a recorded file -- and turns it into validated :class:`TradeRecord` batches and
:class:`Rejection` s, handed to a :class:`TradeSink`. The sink (de-duplication,
publishing, counting) is the same for every source, so adding an exchange means adding
one adapter and nothing else.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Protocol

from tradestream.ingest.columns import TradeColumns
from tradestream.ingest.trade import TradeRecord
from tradestream.ingest.validation import Rejection


class TradeSink(Protocol):
    """Where adapters deliver. Every method may wait (backpressure); adapters await them."""

    async def trades(self, trades: Sequence[TradeRecord] | TradeColumns, ingest_time_ns: int | None = None) -> None:
        """Valid trades, in the order the source delivered them (columns: the fast path of bulk sources)."""

    async def rejected(self, rejection: Rejection) -> None:
        """A frame or trade that failed validation; it goes to the dead-letter topic."""

    def frame_received(self) -> None:
        """One raw message read from a connection."""

    def reconnecting(self) -> None:
        """A connection was lost and will be re-established."""

    def sequence_gap(self, missing_frames: int) -> None:
        """The source's sequence numbers jumped over ``missing_frames`` messages."""


class ExchangeAdapter(ABC):
    """A market-data source. ``name`` becomes the dead-letter ``source`` (``ingest:<name>``)."""

    name: ClassVar[str]
    #: Whether the sink drops repeats of (pair, trade_id). True for live exchanges, which
    #: replay recent trades on every subscribe; False where repeats are the point (the
    #: simulator's injected duplicates) or the input must be reproduced as recorded.
    deduplicate: ClassVar[bool] = True

    @abstractmethod
    async def run(self, sink: TradeSink, stop: asyncio.Event) -> None:
        """Deliver to ``sink`` until ``stop`` is set or the source is exhausted.

        On ``stop`` an adapter stops reading promptly and returns; it must not abandon a
        ``sink`` call half way (the sink decides what is safe to cut short).
        """

    def describe(self) -> str:
        """One line for the start-up log."""
        return self.name


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; return True if ``stop`` was set meanwhile."""
    if seconds <= 0:
        return stop.is_set()
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
