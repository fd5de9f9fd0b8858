"""Coinbase Exchange's public REST history: trades by id and candles, for imports and gap repair.

Endpoints (/work/shared/reference/exchange-apis.md §1, Coinbase's pagination, rate-limit
and product docs):

* ``GET /products/{id}``: the product, 404 ``{"message": "NotFound"}`` when unknown.
* ``GET /products/{id}/trades?after=X&limit=N``: up to N (at most 1000) trades with ids
  below X, newest first; ``CB-BEFORE``/``CB-AFTER`` headers carry the newest and oldest id
  of the page. There is no time filter: trade ids are sequential per product, which is
  what the import runner builds on (locating a time range by binary search over ids).
  ``side`` is the **maker** side; the taker, which the platform records, is the other one.
* ``GET /products/{id}/candles?granularity=G&start=&end=``: rows ``[time, low, high, open,
  close, volume]``, G in {60, 300, 900, 3600, 21600, 86400} seconds, at most 300 rows per
  request, empty buckets left out.

Public limit: 10 requests a second per IP, bursts of 15; over it the API answers 429.
The client keeps under it with ``aiolimiter``'s leaky bucket (capacity = burst, drained at
the rate; by default 10 a second in bursts of 10, leaving room for requests that reach the
venue bunched), and retries 429, 5xx, timeouts and connection errors with the platform's
``Backoff``, waiting what ``Retry-After`` asks for when the answer says. A page that
cannot be read (not JSON, a row without a field, a price that is not a number, ids that
are not integers) is counted and asked for again, then refused with ``MalformedPage``
naming the request: the runner stops there with what it already wrote kept.

Pages are decoded with msgspec into typed rows (which checks every field's presence and JSON
type on the way, and is about twice as fast as a JSON parser building dicts), then turned
into columns with Arrow casts for the decimal strings and the ISO 8601 times: an import
reads hundreds of thousands of trades a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import msgspec
import numpy as np
import pyarrow as pa
from aiolimiter import AsyncLimiter

from streaming.venues.coinbase.parsing import EXCHANGE
from streaming.venues.coinbase.settings import CoinbaseSettings
from streaming.venues.rest import retry_after_s
from tradestream.backoff import Backoff
from tradestream.history.venue import (
    Bars,
    HistoryError,
    MalformedPage,
    RequestCounts,
    TradePage,
    TradePoint,
    UnknownProduct,
    VenueUnavailable,
)
from tradestream.ingest.trade import TakerSide
from tradestream.settings import Settings
from tradestream.timeframes import NS_PER_SECOND, TIMEFRAME_NS

log = logging.getLogger(__name__)

PAGE_LIMIT = 1000
MAX_CANDLES = 300
#: Coinbase's candle granularities (seconds) by platform timeframe; 4h is rolled up from 1h.
GRANULARITY_S: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
#: Before Coinbase existed (2012): an earlier trade time is a parsing error, not history.
_EARLIEST_NS = 1_230_768_000 * NS_PER_SECOND   # 2009-01-01
#: Tries of a page that cannot be read before the request is refused.
MALFORMED_ATTEMPTS = 3


class CoinbaseHistoryClient:
    """The REST calls of history import and gap repair, rate limited and retried."""

    exchange: ClassVar[str] = EXCHANGE
    page_limit: ClassVar[int] = PAGE_LIMIT
    candle_timeframes: ClassVar[tuple[str, ...]] = tuple(GRANULARITY_S)
    max_bars_per_request: ClassVar[int] = MAX_CANDLES

    def __init__(self, rest_url: str, *, rate_per_s: float = 10.0, burst: int = 10, timeout_s: float = 15.0,
                 max_attempts: int = 6, backoff: Backoff | None = None):
        self.rest_url = rest_url.rstrip("/")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_attempts = max_attempts
        self.counts = RequestCounts()
        self._timeout_s = timeout_s
        self._backoff = backoff or Backoff(base_s=0.5, max_s=30.0, jitter=True)
        self._limiter: AsyncLimiter | None = None
        self._http: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CoinbaseHistoryClient:
        coinbase = settings.venue(CoinbaseSettings)
        return cls(coinbase.rest_url, rate_per_s=coinbase.rest_rate_per_s, burst=coinbase.rest_burst,
                   timeout_s=coinbase.rest_timeout_s, max_attempts=coinbase.rest_max_attempts)

    def __repr__(self) -> str:
        return f"CoinbaseHistoryClient({self.rest_url!r}, {self.rate_per_s:g} req/s, burst {self.burst})"

    # ------------------------------------------------------------------ transport

    def _client(self) -> tuple[httpx.AsyncClient, AsyncLimiter]:
        # Made on first use, inside the event loop that uses them (asyncio objects are bound to one).
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.rest_url, timeout=self._timeout_s,
                                           headers={"Accept": "application/json",
                                                    "User-Agent": "tradestream-history"})
            self._limiter = AsyncLimiter(self.burst, self.burst / self.rate_per_s)
        return self._http, self._limiter

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """One GET answered 2xx (or 404/400, for the caller to explain), through rate limit and retries."""
        http, limiter = self._client()
        backoff = Backoff(self._backoff.base_s, self._backoff.max_s, jitter=self._backoff.jitter,
                          rng=self._backoff.rng)
        what = f"GET {self.rest_url}{path}" + (f"?{httpx.QueryParams(params)}" if params else "")
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            started = time.monotonic()
            await limiter.acquire()
            self.counts.waited_s += time.monotonic() - started
            self.counts.requests += 1
            try:
                response = await http.get(path, params=params)
            except httpx.TransportError as exc:
                self.counts.transport_errors += 1
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                delay = backoff.next_delay()
            else:
                status = response.status_code
                self.counts.by_status[status] = self.counts.by_status.get(status, 0) + 1
                if status == 429:
                    self.counts.rate_limited += 1
                    problem = f"HTTP 429 {_message(response)}"
                    delay = retry_after_s(response.headers)
                    delay = backoff.next_delay() if delay is None else delay
                elif status >= 500:
                    self.counts.server_errors += 1
                    problem = f"HTTP {status} {_message(response)}"
                    delay = retry_after_s(response.headers) or backoff.next_delay()
                else:
                    return response
            if attempt == self.max_attempts:
                break
            log.info("%s: %s; retrying in %.2fs (attempt %d of %d)", what, problem, delay, attempt + 1,
                     self.max_attempts)
            self.counts.waited_s += delay
            await asyncio.sleep(delay)
        raise VenueUnavailable(f"{what}: {problem} after {self.max_attempts} attempts")

    async def _json_rows(self, path: str, params: dict[str, Any], pair: str, parse) -> tuple[Any, httpx.Response]:
        """``parse(body)`` of a 2xx answer, asking again while the page is malformed."""
        error: MalformedPage | None = None
        for _ in range(MALFORMED_ATTEMPTS):
            response = await self._get(path, params)
            _raise_for_client_error(response, pair, path)
            try:
                return parse(response.content), response
            except MalformedPage as exc:
                self.counts.malformed += 1
                error = exc
                log.warning("%s: malformed page for %s (%s); asking again", path, pair, exc)
        raise MalformedPage(f"{pair}: GET {path}?{httpx.QueryParams(params)} answered a malformed page "
                            f"{MALFORMED_ATTEMPTS} times: {error}")

    # ------------------------------------------------------------------ products

    async def check_product(self, pair: str) -> None:
        response = await self._get(f"/products/{pair}")
        _raise_for_client_error(response, pair, f"/products/{pair}")

    # ------------------------------------------------------------------ trades

    async def trades_before(self, pair: str, before_id: int, limit: int = PAGE_LIMIT) -> TradePage:
        if not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"limit={limit} must be between 1 and {PAGE_LIMIT}")
        if before_id <= 1:
            return TradePage.empty()
        page, response = await self._json_rows(f"/products/{pair}/trades", {"after": before_id, "limit": limit},
                                                pair, parse_trades)
        cursor = response.headers.get("CB-AFTER")
        page.cursor = int(cursor) if cursor and cursor.isdigit() else None
        return page

    async def newest_trade(self, pair: str) -> TradePoint | None:
        page, _ = await self._json_rows(f"/products/{pair}/trades", {"limit": 1}, pair, parse_trades)
        return _first_point(page)

    async def trade_at_or_before(self, pair: str, trade_id: int) -> TradePoint | None:
        return _first_point(await self.trades_before(pair, trade_id + 1, 1))

    # ------------------------------------------------------------------ candles

    async def bars(self, pair: str, timeframe: str, start_ns: int, end_ns: int) -> Bars:
        granularity = GRANULARITY_S.get(timeframe)
        if granularity is None:
            raise ValueError(f"Coinbase serves no {timeframe!r} candles; it serves {list(GRANULARITY_S)}")
        step = granularity * NS_PER_SECOND
        if start_ns % step or end_ns % step or not start_ns < end_ns <= start_ns + MAX_CANDLES * step:
            raise ValueError(f"candles of {pair} {timeframe}: [{start_ns}, {end_ns}) must be aligned and hold 1 to "
                             f"{MAX_CANDLES} bars")
        params = {"granularity": granularity, "start": _iso(start_ns), "end": _iso(end_ns)}
        bars, _ = await self._json_rows(f"/products/{pair}/candles", params, pair,
                                        lambda body: parse_bars(body, timeframe))
        inside = (bars.window_start_ns >= start_ns) & (bars.window_start_ns < end_ns)
        order = np.argsort(bars.window_start_ns[inside], kind="stable")
        keep = np.flatnonzero(inside)[order]
        return Bars(timeframe, *(getattr(bars, f)[keep] for f in ("window_start_ns", "open", "high", "low", "close",
                                                                   "volume")))


def history_client(settings: Settings) -> CoinbaseHistoryClient:
    """The registry's factory for ``Capability.HISTORY``."""
    return CoinbaseHistoryClient.from_settings(settings)


# ---------------------------------------------------------------------- parsing (pure)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // NS_PER_SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _message(response: httpx.Response) -> str:
    try:
        body = _ANY.decode(response.content)
    except msgspec.DecodeError:
        return response.text[:200]
    return str(body.get("message", body))[:200] if isinstance(body, dict) else str(body)[:200]


def _raise_for_client_error(response: httpx.Response, pair: str, path: str) -> None:
    if response.status_code < 400:
        return
    message = _message(response)
    if response.status_code == 404:
        raise UnknownProduct(f"unknown product {pair!r} at coinbase ({response.request.url.host}): {message}; "
                             "check the pair (e.g. BTC-USD) against GET /products")
    raise HistoryError(f"{pair}: GET {path} refused with HTTP {response.status_code}: {message}")


def _first_point(page: TradePage) -> TradePoint | None:
    if not len(page):
        return None
    k = int(np.argmax(page.trade_id))
    return TradePoint(int(page.trade_id[k]), int(page.event_ns[k]))


class _Trade(msgspec.Struct, gc=False):
    """A row of ``/trades`` as Coinbase sends it; decoding checks every field's presence and JSON type."""

    trade_id: int
    time: str
    price: str
    size: str
    side: str


_TRADES = msgspec.json.Decoder(list[_Trade])
_BARS = msgspec.json.Decoder(list[tuple[float, float, float, float, float, float]])
_ANY = msgspec.json.Decoder()


def _decimals(values: list, name: str) -> np.ndarray:
    try:
        out = pa.array(values, pa.string()).cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise MalformedPage(f"{name} is not a decimal string in every row: {str(exc)[:200]}") from None
    bad = ~(np.isfinite(out) & (out > 0))
    if bad.any():
        raise MalformedPage(f"{name}={values[int(np.flatnonzero(bad)[0])]!r} is not a positive finite number")
    return out


def _decode(decoder: msgspec.json.Decoder, body: bytes, wrong_shape: str):
    """``body`` decoded; :class:`MalformedPage` when it is not JSON, or ``wrong_shape`` when it is not the rows."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise MalformedPage(f"{wrong_shape}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise MalformedPage(f"body is not JSON ({exc}): {body[:120]!r}") from None


def parse_trades(body: bytes) -> TradePage:
    """A ``/trades`` page as columns, in the venue's order; raises :class:`MalformedPage` naming the problem."""
    rows = _decode(_TRADES, body, "the page does not hold Coinbase trades")
    if not rows:
        return TradePage.empty()
    trade_id = np.array([r.trade_id for r in rows], dtype=np.int64)
    if (trade_id < 1).any():
        raise MalformedPage(f"trade_id={int(trade_id.min())} is not a positive id")
    times = [r.time for r in rows]
    try:
        event_ns = pa.array(times, pa.string()).cast(pa.timestamp("ns", "UTC")).cast(pa.int64()).to_numpy(
            zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise MalformedPage(f"time is not an ISO 8601 time in every row: {str(exc)[:200]}") from None
    if (event_ns < _EARLIEST_NS).any():
        raise MalformedPage(f"time={times[int(np.argmin(event_ns))]!r} lies before 2009")
    price = _decimals([r.price for r in rows], "price")
    size = _decimals([r.size for r in rows], "size")
    maker = np.array([r.side for r in rows], dtype=object)
    # the side of a Coinbase Exchange trade is the maker's; the taker took the other side
    taker = np.where(maker == "buy", TakerSide.SELL, np.where(maker == "sell", TakerSide.BUY, 0)).astype(np.int8)
    if (taker == 0).any():
        raise MalformedPage(f"side={maker[int(np.flatnonzero(taker == 0)[0])]!r} is neither 'buy' nor 'sell'")
    return TradePage(trade_id, event_ns.astype(np.int64), price, size, taker)


def parse_bars(body: bytes, timeframe: str) -> Bars:
    """A ``/candles`` answer (rows ``[time, low, high, open, close, volume]``) as columns."""
    rows = _decode(_BARS, body, "candles must be rows of [time, low, high, open, close, volume]")
    if not rows:
        empty = np.zeros(0)
        return Bars(timeframe, np.zeros(0, np.int64), empty, empty, empty, empty, empty)
    table = np.array(rows, dtype=np.float64)
    starts = table[:, 0].astype(np.int64) * NS_PER_SECOND
    if (starts % TIMEFRAME_NS[timeframe]).any():
        raise MalformedPage(f"a {timeframe} candle starts off its grid: {int(table[0, 0])}")
    return Bars(timeframe, starts, table[:, 3], table[:, 2], table[:, 1], table[:, 4], table[:, 5])
