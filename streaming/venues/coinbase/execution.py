"""Coinbase Advanced Trade orders for the executor's live mode (off by default).

The executor (``tradestream.execution``) decides; this adapter places the decision at
Coinbase and reports back what happened, as ``VenueReport``s the executor books:

* ``submit(order)``: ``POST /api/v3/brokerage/orders`` with a market IOC order (a BUY by
  ``quote_size``, a SELL by ``base_size``, rounded down to the product's increments) and
  ``client_order_id`` = the executor's order id, a hash of the signal and the
  allocation; then polls ``GET /orders/historical/{order_id}`` and
  ``GET /orders/historical/fills?order_ids=`` until the order is final.
* ``reconcile(pending)``: on start, for every order the executor still holds as
  pending, finds it at the venue by its client order id (``GET /orders/historical/batch``)
  and reports its fills, so orders that filled while we were down are booked; an order
  the venue never received is placed now if it is recent, else reported cancelled.
* A POST that times out or gets a 5xx may or may not have created the order: the
  adapter looks the client order id up before it ever posts again, so no order is
  placed twice. A 429 was not processed and is retried after ``Retry-After`` or a backoff.

Authentication is a CDP API key as Coinbase documents it: every request carries
``Authorization: Bearer <JWT>``, an ES256 token signed with the key's EC P-256 private
key, header ``kid`` = key name and a random ``nonce``, claims ``sub`` = key name,
``iss`` = "cdp", ``nbf`` = now, ``exp`` = now + 120 s and ``uri`` = "METHOD host/path"
(no query). The key comes only from the environment (``COINBASE_API_KEY`` and
``COINBASE_API_SECRET``) or a mounted Kubernetes Secret holding Coinbase's key file
(JSON with ``name`` and ``privateKey``; ``COINBASE_API_KEY_FILE`` or
``/var/run/secrets/tradestream/coinbase/cdp_api_key.json``). The private key is never
logged, never in a repr or an error message, and cannot be pickled.

Why PyJWT + httpx rather than ccxt's ``coinbase``: ccxt's ES256 tokens carry
``iss: "coinbase-cloud"``, ``aud`` and ``iat`` instead of the claims the CDP docs name,
and build ``uri`` by stripping only ``https://`` from the URL, so they do not authenticate
against a plain-HTTP stand-in without patching; its ``create_order`` first loads markets
(products plus three ``/v2`` currency and rate endpoints) and reaches a quote-sized market
buy through its cost options. The adapter needs four endpoints; owning them keeps what
matters here in view: the client order id, the ambiguous-timeout rule and the
reconciliation. The token follows coinbase-advanced-py's ``jwt_generator`` with the
documented claims.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from streaming.venues.rest import retry_after_s
from tradestream.backoff import Backoff
from tradestream.execution.executor import VenueFill, VenueReport
from tradestream.ingest.validation import InvalidInput, parse_decimal, parse_timestamp_ns
from tradestream.v1 import execution_pb2 as pb

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.coinbase.com"
API_PREFIX = "/api/v3/brokerage"
ENV_KEY = "COINBASE_API_KEY"
ENV_SECRET = "COINBASE_API_SECRET"
ENV_KEY_FILE = "COINBASE_API_KEY_FILE"
DEFAULT_KEY_FILE = Path("/var/run/secrets/tradestream/coinbase/cdp_api_key.json")
JWT_LIFETIME_S = 120
NS_PER_S = 1_000_000_000
# Venue order statuses (GET /orders/historical/{id}) that will not change any more.
_FINAL = {"FILLED", "CANCELLED", "EXPIRED", "FAILED"}


class MissingCredentials(RuntimeError):
    """No CDP API key in the environment or the mounted Secret."""


class VenueError(RuntimeError):
    """The venue refused a request or answered something unexpected; the message says what."""


class AmbiguousOutcome(VenueError):
    """A POST may or may not have been processed (timeout, dropped connection, 5xx)."""


class CdpCredentials:
    """A CDP API key: its name and its EC P-256 private key. The key never leaves this object."""

    __slots__ = ("name", "_key")

    def __init__(self, name: str, private_key_pem: str):
        if not name:
            raise ValueError("CDP API key name is empty; it looks like organizations/{org}/apiKeys/{id}")
        try:
            key = serialization.load_pem_private_key(private_key_pem.replace("\\n", "\n").encode(), password=None)
        except (ValueError, TypeError):
            # The exception text may quote the input: do not chain it.
            raise ValueError(f"the private key of CDP API key {name!r} is not a PEM private key") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"the private key of CDP API key {name!r} is not an EC P-256 key (ES256)")
        self.name = name
        self._key = key

    def __repr__(self) -> str:
        return f"CdpCredentials(name={self.name!r}, private_key=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("CdpCredentials cannot be pickled: the private key stays in this process")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CdpCredentials:
        """From COINBASE_API_KEY + COINBASE_API_SECRET, else the key file (COINBASE_API_KEY_FILE or
        the mounted Secret)."""
        env = os.environ if environ is None else environ
        name, secret = env.get(ENV_KEY), env.get(ENV_SECRET)
        if name and secret:
            return cls(name, secret)
        path = Path(env.get(ENV_KEY_FILE) or DEFAULT_KEY_FILE)
        if not path.is_file():
            raise MissingCredentials(f"no Coinbase CDP API key: set {ENV_KEY} and {ENV_SECRET}, or mount the key "
                                     f"file (JSON with 'name' and 'privateKey') at {path} or point {ENV_KEY_FILE} "
                                     "at it")
        try:
            data = json.loads(path.read_text())
            return cls(str(data.get("name") or data.get("id") or ""), str(data["privateKey"]))
        except (OSError, json.JSONDecodeError, KeyError, AttributeError):
            raise MissingCredentials(f"the key file {path} is not Coinbase's JSON with 'name' and "
                                     "'privateKey'") from None

    def token(self, method: str, host: str, path: str, now: float | None = None) -> str:
        """The JWT for one request: ``uri`` is "METHOD host/path" without the query."""
        issued = int(time.time() if now is None else now)
        claims = {"sub": self.name, "iss": "cdp", "nbf": issued, "exp": issued + JWT_LIFETIME_S,
                  "uri": f"{method.upper()} {host}{path}"}
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.name,
                                                                       "nonce": secrets.token_hex()})


@dataclass(frozen=True)
class Product:
    product_id: str
    base_increment: Decimal
    quote_increment: Decimal
    base_min_size: Decimal
    quote_min_size: Decimal


@dataclass(frozen=True)
class PlaceResult:
    success: bool
    order_id: str = ""
    error: str = ""
    message: str = ""


class CoinbaseOrderClient:
    """The REST calls of order placement, authenticated, with retries where they are safe."""

    def __init__(self, credentials: CdpCredentials, *, base_url: str = DEFAULT_BASE_URL, timeout_s: float = 5.0,
                 max_attempts: int = 4, backoff: Backoff | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self._credentials = credentials
        self._base_url = base_url.rstrip("/")
        self._host = urlsplit(self._base_url).netloc
        self._http = httpx.Client(timeout=timeout_s)
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff(base_s=0.25, max_s=5.0, jitter=True)
        self._sleep = sleep
        self._products: dict[str, Product] = {}

    def __repr__(self) -> str:
        return f"CoinbaseOrderClient(base_url={self._base_url!r}, key={self._credentials.name!r})"

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                 body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """JSON of one call. GETs retry timeouts and 5xx; a POST that may have been processed
        raises ``AmbiguousOutcome`` instead; every call retries a 429."""
        full_path = API_PREFIX + path
        safe_to_repeat = method == "GET"
        self._backoff.reset()
        for attempt in range(1, self._max_attempts + 1):
            headers = {"Authorization": f"Bearer {self._credentials.token(method, self._host, full_path)}"}
            try:
                response = self._http.request(method, self._base_url + full_path, params=params, json=body,
                                              headers=headers)
            except httpx.TransportError as exc:
                sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
                if sent and not safe_to_repeat:
                    raise AmbiguousOutcome(f"{method} {full_path}: no answer ({type(exc).__name__}); the order "
                                           "may exist") from None
                if attempt == self._max_attempts:
                    raise VenueError(f"{method} {full_path}: {type(exc).__name__} after {attempt} attempts") from None
                self._sleep(self._backoff.next_delay())
                continue
            if response.status_code == 429:
                if attempt == self._max_attempts:
                    raise VenueError(f"{method} {full_path}: rate limited (429) {attempt} times")
                self._sleep(retry_after_s(response.headers) or self._backoff.next_delay())
                continue
            if response.status_code >= 500:
                if not safe_to_repeat:
                    raise AmbiguousOutcome(f"{method} {full_path}: HTTP {response.status_code}; the order may exist")
                if attempt == self._max_attempts:
                    raise VenueError(f"{method} {full_path}: HTTP {response.status_code} after {attempt} attempts")
                self._sleep(self._backoff.next_delay())
                continue
            try:
                data = response.json()
            except ValueError:
                raise VenueError(f"{method} {full_path}: HTTP {response.status_code}, body is not JSON") from None
            if response.status_code >= 400:
                raise VenueError(f"{method} {full_path}: HTTP {response.status_code} {data.get('error', '')}: "
                                 f"{data.get('message') or data.get('error_details') or ''}".rstrip(": "))
            return data
        raise AssertionError("unreachable")

    def product(self, product_id: str) -> Product:
        cached = self._products.get(product_id)
        if cached is None:
            data = self._request("GET", f"/products/{product_id}")
            cached = self._products[product_id] = Product(
                product_id, Decimal(data["base_increment"]), Decimal(data["quote_increment"]),
                Decimal(data.get("base_min_size") or "0"), Decimal(data.get("quote_min_size") or "0"))
        return cached

    def place_market_order(self, client_order_id: str, product_id: str, side: str, *, quote_size: str | None = None,
                           base_size: str | None = None) -> PlaceResult:
        size = {"quote_size": quote_size} if quote_size is not None else {"base_size": base_size}
        data = self._request("POST", "/orders", body={
            "client_order_id": client_order_id, "product_id": product_id, "side": side,
            "order_configuration": {"market_market_ioc": size}})
        if data.get("success"):
            response = data.get("success_response") or {}
            return PlaceResult(True, str(response.get("order_id") or data.get("order_id") or ""))
        error = data.get("error_response") or {}
        return PlaceResult(False, "", str(error.get("error") or data.get("failure_reason") or "UNKNOWN"),
                           str(error.get("message") or error.get("error_details") or ""))

    def order(self, order_id: str) -> dict[str, Any]:
        return self._request("GET", f"/orders/historical/{order_id}")["order"]

    def fills(self, order_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            params = {"order_ids": order_id, "limit": 100, **({"cursor": cursor} if cursor else {})}
            data = self._request("GET", "/orders/historical/fills", params=params)
            out.extend(data.get("fills") or [])
            cursor = data.get("cursor") or ""
            if not cursor or not data.get("fills"):
                return out

    def find_order(self, client_order_id: str, product_id: str, since_ns: int) -> dict[str, Any] | None:
        """The venue's order with our client order id, created after ``since_ns``, if any."""
        cursor = ""
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since_ns // NS_PER_S))
        while True:
            params = {"product_ids": product_id, "start_date": start, "limit": 100,
                      **({"cursor": cursor} if cursor else {})}
            data = self._request("GET", "/orders/historical/batch", params=params)
            for order in data.get("orders") or []:
                if order.get("client_order_id") == client_order_id:
                    return order
            cursor = data.get("cursor") or ""
            if not data.get("has_next") or not cursor:
                return None


class CoinbaseExecution:
    """Places the executor's live orders and turns the venue's answers into ``VenueReport``s."""

    def __init__(self, client: CoinbaseOrderClient, *, poll_interval_s: float = 0.5, max_polls: int = 20,
                 resubmit_within_s: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self._client = client
        self._poll_interval_s = poll_interval_s
        self._max_polls = max_polls
        self._resubmit_within_ns = int(resubmit_within_s * NS_PER_S)
        self._sleep = sleep
        self._clock = clock

    def submit(self, order: pb.Order) -> VenueReport:
        """Place ``order`` (once, whatever the network does) and follow it until it is final."""
        cid = order.client_order_id
        try:
            sizes = self._sizes(order)
        except (ValueError, VenueError) as exc:  # nothing was placed
            return VenueReport(cid, "rejected", detail=str(exc), time_ns=self._now_ns())
        side = "BUY" if order.side == pb.ORDER_SIDE_BUY else "SELL"
        since = _ns(order.created_at) - 60 * NS_PER_S
        for _ in range(2):
            try:
                placed = self._client.place_market_order(cid, order.currency_pair, side, **sizes)
                break
            except AmbiguousOutcome as exc:
                log.warning("order %s: %s; looking it up by client order id", cid, exc)
                found = self._lookup(cid, order.currency_pair, since)
                if found is not None:
                    return self.follow(cid, str(found["order_id"]))
            except VenueError as exc:  # a 4xx or 429s throughout: the venue did not take it
                return VenueReport(cid, "rejected", detail=str(exc), time_ns=self._now_ns())
        else:
            return VenueReport(cid, "open", detail="the venue did not answer twice; reconcile will find it",
                               time_ns=self._now_ns())
        if not placed.success:
            return VenueReport(cid, "rejected", detail=f"{placed.error}: {placed.message}".rstrip(": "),
                               time_ns=self._now_ns())
        return self.follow(cid, placed.order_id)

    def follow(self, client_order_id: str, order_id: str) -> VenueReport:
        """Poll the order and its fills until it is final (or ``max_polls`` ran out, or the venue
        stopped answering: status "open", and a later ``reconcile`` picks it up)."""
        for poll in range(self._max_polls):
            try:
                venue_order = self._client.order(order_id)
                status = str(venue_order.get("status", ""))
                if status in _FINAL or poll == self._max_polls - 1:
                    fills = tuple(_venue_fill(f) for f in self._client.fills(order_id))
                    return VenueReport(client_order_id, _report_status(status, fills), fills, order_id,
                                       detail=_detail(venue_order), time_ns=self._now_ns())
            except VenueError as exc:
                return VenueReport(client_order_id, "open", (), order_id, detail=str(exc), time_ns=self._now_ns())
            self._sleep(self._poll_interval_s)
        raise AssertionError("unreachable")

    def reconcile(self, pending: Iterable[pb.Order]) -> list[VenueReport]:
        """On start: what became of the orders the executor still holds as pending."""
        reports = []
        for order in pending:
            if order.fill_model != pb.FILL_MODEL_VENUE:
                continue
            cid = order.client_order_id
            found = self._lookup(cid, order.currency_pair, _ns(order.created_at) - 60 * NS_PER_S)
            if found is not None:
                reports.append(self.follow(cid, str(found["order_id"])))
            elif self._now_ns() - _ns(order.created_at) <= self._resubmit_within_ns:
                reports.append(self.submit(order))
            else:
                reports.append(VenueReport(cid, "cancelled", detail="never reached the venue, and too old to place "
                                           "after the restart", time_ns=self._now_ns()))
        return reports

    def _lookup(self, cid: str, product_id: str, since_ns: int) -> dict[str, Any] | None:
        """The order by client id, looked for twice a poll interval apart: a just-created order
        may take a moment to be listed, and posting it again would be the worse mistake."""
        found = self._client.find_order(cid, product_id, since_ns)
        if found is None:
            self._sleep(self._poll_interval_s)
            found = self._client.find_order(cid, product_id, since_ns)
        return found

    def _sizes(self, order: pb.Order) -> dict[str, str]:
        product = self._client.product(order.currency_pair)
        if order.side == pb.ORDER_SIDE_BUY:
            quote = _floor(order.quote_size, product.quote_increment)
            if quote <= 0 or quote < product.quote_min_size:
                raise ValueError(f"quote size {order.quote_size} is below {order.currency_pair}'s minimum "
                                 f"{product.quote_min_size}")
            return {"quote_size": str(quote)}
        base = _floor(order.base_size, product.base_increment)
        if base <= 0 or base < product.base_min_size:
            raise ValueError(f"base size {order.base_size} is below {order.currency_pair}'s minimum "
                             f"{product.base_min_size}")
        return {"base_size": str(base)}

    def _now_ns(self) -> int:
        return int(self._clock() * NS_PER_S)


def _floor(value: float, increment: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``increment`` (never more than the executor decided)."""
    steps = (Decimal(repr(value)) / increment).to_integral_value(rounding=ROUND_DOWN)
    return (steps * increment).quantize(increment)


def _venue_fill(data: Mapping[str, Any]) -> VenueFill:
    try:
        price = parse_decimal(data.get("price"), "fill.price")
        size = parse_decimal(data.get("size"), "fill.size")
        fee = parse_decimal(data.get("commission", "0"), "fill.commission")
        when = parse_timestamp_ns(data.get("trade_time"), "fill.trade_time")
    except InvalidInput as exc:
        raise VenueError(f"the venue sent a malformed fill: {exc.detail}") from None
    if data.get("size_in_quote"):
        size = size / price
    return VenueFill(str(data.get("entry_id") or data.get("trade_id")), price, size, fee, when)


def _report_status(status: str, fills: tuple[VenueFill, ...]) -> str:
    if status == "FILLED":
        return "filled"
    if status in ("CANCELLED", "EXPIRED"):
        return "partially_filled" if fills else "cancelled"
    if status == "FAILED":
        return "partially_filled" if fills else "rejected"
    return "open"


def _detail(order: Mapping[str, Any]) -> str:
    parts = [str(order.get(k)) for k in ("status", "reject_reason", "cancel_message") if order.get(k)]
    return " ".join(parts)


def _ns(stamp: Any) -> int:
    return stamp.seconds * NS_PER_S + stamp.nanos
