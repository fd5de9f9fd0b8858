"""What a venue's REST history client offers the import runner and the live gap repair.

A venue implements :class:`HistoryClient` in its folder (``streaming/venues/<venue>/history.py``,
registered with ``Capability.HISTORY``); the runner (``streaming/history``) and the
ingestion's gap repair (``streaming/ingestion/repair.py``) only call these methods, so
another venue plugs in without touching them. The protocol is built on sequential
per-pair trade ids (Coinbase; Binance's aggregate trades): pages are asked for by id,
newest first, and completeness is judged by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np


class HistoryError(RuntimeError):
    """The venue's REST API could not give what was asked; the message names the pair and request."""


class UnknownProduct(HistoryError):  # noqa: N818 - reads naturally at the call site
    """The venue does not list this product."""


class MalformedPage(HistoryError):  # noqa: N818
    """A page the venue answered that cannot be read (not JSON, missing or bad fields)."""


class VenueUnavailable(HistoryError):  # noqa: N818
    """Retries ran out (rate limits, 5xx, timeouts, connection errors)."""


@dataclass(frozen=True)
class TradePoint:
    """One trade's id and exchange time (ns)."""

    trade_id: int
    event_ns: int


@dataclass
class TradePage:
    """Trades of one pair as the venue returned them (its order), as columns.

    ``taker_side`` holds ``tradestream.ingest.trade.TakerSide`` values. ``cursor`` is the
    venue's own pointer to the next older page (for Coinbase the ``CB-AFTER`` header).
    """

    trade_id: np.ndarray      # int64
    event_ns: np.ndarray      # int64
    price: np.ndarray         # float64
    size: np.ndarray          # float64
    taker_side: np.ndarray    # int8
    cursor: int | None = None

    def __len__(self) -> int:
        return len(self.trade_id)

    def take(self, index: np.ndarray) -> TradePage:
        return TradePage(self.trade_id[index], self.event_ns[index], self.price[index], self.size[index],
                         self.taker_side[index], self.cursor)

    @classmethod
    def empty(cls) -> TradePage:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int8))

    @classmethod
    def concat(cls, pages: list[TradePage]) -> TradePage:
        if not pages:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in pages])
                     for f in ("trade_id", "event_ns", "price", "size", "taker_side")))


@dataclass
class Bars:
    """The venue's own candles of one pair and timeframe, as columns (window start in ns). Venues
    leave out windows without trades and do not say vwap or trade count."""

    timeframe: str
    window_start_ns: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.window_start_ns)


@dataclass
class RequestCounts:
    """What a client did, for the summary: requests sent and what went wrong on the way."""

    requests: int = 0
    rate_limited: int = 0          # 429 answers
    server_errors: int = 0         # 5xx answers
    transport_errors: int = 0      # timeouts, refused or dropped connections
    malformed: int = 0             # pages that could not be read
    waited_s: float = 0.0          # time spent waiting for the rate limit or a retry
    by_status: dict[int, int] = field(default_factory=dict)


class HistoryClient(Protocol):
    """A venue's public REST history for trades (by sequential id) and candles."""

    #: The venue's name, the ``exchange`` of the trades it returns.
    exchange: ClassVar[str]
    #: Most trades one page can hold.
    page_limit: ClassVar[int]
    #: Timeframes the venue serves candles for itself; the others are rolled up from these.
    candle_timeframes: ClassVar[tuple[str, ...]]
    #: The longest span of bars one candles request may cover.
    max_bars_per_request: ClassVar[int]
    counts: RequestCounts

    async def check_product(self, pair: str) -> None:
        """Raise :class:`UnknownProduct` (naming it) unless the venue lists ``pair``."""

    async def newest_trade(self, pair: str) -> TradePoint | None:
        """The pair's newest trade, None when it never traded."""

    async def trade_at_or_before(self, pair: str, trade_id: int) -> TradePoint | None:
        """The trade with the largest id not above ``trade_id``, None when there is none."""

    async def trades_before(self, pair: str, before_id: int, limit: int) -> TradePage:
        """Up to ``limit`` trades with ids below ``before_id``, newest first."""

    async def bars(self, pair: str, timeframe: str, start_ns: int, end_ns: int) -> Bars:
        """The venue's candles with ``start_ns <= window start < end_ns`` (at most ``max_bars_per_request``)."""

    async def aclose(self) -> None:
        """Release connections."""

