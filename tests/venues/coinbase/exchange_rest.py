"""A local stand-in for Coinbase Exchange's public REST API: products, trades by id, candles.

A real HTTP/1.1 server on 127.0.0.1 (there is no internet here) that follows the venue's
documented behaviour (/work/shared/reference/exchange-apis.md §1):

* ``GET /products``, ``GET /products/{id}`` (404 ``{"message": "NotFound"}`` for others);
* ``GET /products/{id}/trades?after=&before=&limit=``: newest first, exclusive id cursors
  (``after=5&limit=2`` gives 4, 3), ``limit`` 1 to 1000 (default 1000), ``CB-BEFORE`` /
  ``CB-AFTER`` headers with the newest / oldest id of the page; ``side`` is the maker side;
* ``GET /products/{id}/candles?granularity=&start=&end=``: granularity in {60, 300, 900,
  3600, 21600, 86400} else 400, start and end together or neither, at most 300 buckets per
  request else 400, rows ``[time, low, high, open, close, volume]`` newest first, empty
  buckets left out;
* errors as ``{"message": ...}``; an optional rate limit of its own (a token bucket) that
  answers 429 ``Public rate limit exceeded`` like the venue.

Market data is generated per product, deterministically from a seed: sequential ids from
``first_id``, exchange times with random spacing (microseconds, as Coinbase sends), a random
walk of decimal prices; ``missing`` ids are left out for good (a gap at the venue). Faults
for the tests are queued with :meth:`ExchangeRestStandIn.fail`: ``429`` (with
``Retry-After``), ``500``, ``malformed`` (a body that is not JSON), ``bad_row`` (a trade
without ``price``), ``disordered`` (the page's rows shuffled), ``overlap`` (the page
repeats trades from above the cursor), each for the next request(s) matching a predicate.

Run on its own (the benchmark does, so it has its own process and core)::

    python -m tests.venues.coinbase.exchange_rest --pairs BTC-USD --days 2 --trades-per-day 200000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

NS = 1_000_000_000
GRANULARITIES = (60, 300, 900, 3600, 21600, 86400)
MAX_LIMIT = 1000
MAX_CANDLES = 300


@dataclass
class Product:
    """One product's trades, ascending by id, and their rows as the venue serializes them (newest first)."""

    product_id: str
    trade_id: np.ndarray
    event_ns: np.ndarray
    price: np.ndarray          # floats of the decimal strings
    size: np.ndarray
    maker_side: np.ndarray     # "buy" / "sell"
    rows_newest_first: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rows_newest_first:
            # serialized once, as the venue would: pages are slices joined with commas
            stamps = np.datetime_as_string(self.event_ns[::-1].astype("datetime64[ns]"), unit="us").tolist()
            self.rows_newest_first = [
                f'{{"time":"{t}Z","trade_id":{i},"price":"{p:.2f}","size":"{s:.8f}","side":"{side}"}}'.encode()
                for i, t, p, s, side in zip(self.trade_id[::-1].tolist(), stamps, self.price[::-1].tolist(),
                                            self.size[::-1].tolist(), self.maker_side[::-1].tolist(), strict=True)]


def generate_product(product_id: str, *, start_ns: int, end_ns: int, mean_spacing_s: float, first_id: int = 1,
                     seed: int = 1, start_price: float = 60_000.0, missing: frozenset[int] = frozenset()) -> Product:
    """Trades in [start_ns, end_ns) about ``mean_spacing_s`` apart; ids from ``first_id``, ``missing`` left out."""
    rng = np.random.default_rng(seed)
    expected = int((end_ns - start_ns) / (mean_spacing_s * NS) * 1.2) + 10
    spacing_us = np.maximum(rng.exponential(mean_spacing_s * 1e6, expected).astype(np.int64), 0)
    times = start_ns + np.cumsum(spacing_us) * 1000
    times = times[times < end_ns]
    n = len(times)
    steps = rng.normal(0, 0.0005, n)
    price = np.round(start_price * np.exp(np.cumsum(steps)), 2)
    size = np.round(rng.uniform(0.0001, 2.0, n), 8)
    side = np.where(rng.random(n) < 0.5, "buy", "sell").astype(object)
    ids = first_id + np.arange(n, dtype=np.int64)
    keep = ~np.isin(ids, np.fromiter(missing, dtype=np.int64)) if missing else np.ones(n, dtype=bool)
    return Product(product_id, ids[keep], times[keep], price[keep], size[keep], side[keep])


@dataclass
class Fault:
    kind: str                    # 429 | 500 | malformed | bad_row | disordered | overlap
    times: int
    when: Any                    # predicate(path, params) -> bool
    retry_after: str | None = None


@dataclass
class Request:
    path: str
    params: dict[str, str]
    status: int
    fault: str | None = None


class ExchangeRestStandIn:
    """The server. ``rate_per_s``/``burst`` set, it answers 429 beyond them like Coinbase does."""

    def __init__(self, products: list[Product], *, rate_per_s: float | None = None, burst: int = 15,
                 port: int = 0, log_requests: bool = True):
        self.products = {p.product_id: p for p in products}
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.log_requests = log_requests
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self.lock = threading.Lock()
        self._tokens = float(burst)
        self._refilled = time.monotonic()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="coinbase-rest-standin", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> ExchangeRestStandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fail(self, kind: str, *, times: int = 1, when=None, retry_after: str | None = None) -> None:
        """The next ``times`` requests for which ``when(path, params)`` holds (default: any trades page) fail so."""
        if kind not in {"429", "500", "malformed", "bad_row", "disordered", "overlap"}:
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            self.faults.append(Fault(kind, times, when or (lambda path, params: path.endswith("/trades")),
                                     retry_after))

    def requests_for(self, suffix: str) -> list[Request]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    # ------------------------------------------------------------------ behaviour

    def _take_token(self) -> bool:
        if self.rate_per_s is None:
            return True
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.rate_per_s)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def _take_fault(self, path: str, params: dict[str, str]) -> Fault | None:
        for fault in self.faults:
            if fault.when(path, params):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes, str | None]:
        with self.lock:
            if not self._take_token():
                return 429, {}, b'{"message":"Public rate limit exceeded"}', "rate"
            fault = self._take_fault(path, params)
        if fault is not None and fault.kind in ("429", "500"):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body = b'{"message":"Public rate limit exceeded"}' if fault.kind == "429" else \
                b'{"message":"Internal server error"}'
            return int(fault.kind), headers, body, fault.kind
        parts = [p for p in path.split("/") if p]
        if parts == ["products"]:
            return 200, {}, json.dumps([_product_json(p) for p in self.products]).encode(), None
        if len(parts) < 2 or parts[0] != "products":
            return 404, {}, b'{"message":"route not found"}', None
        product = self.products.get(parts[1])
        if product is None:
            return 404, {}, b'{"message":"NotFound"}', None
        if len(parts) == 2:
            return 200, {}, json.dumps(_product_json(product.product_id)).encode(), None
        if parts[2:] == ["trades"]:
            return self._trades(product, params, fault)
        if parts[2:] == ["candles"]:
            return self._candles(product, params)
        return 404, {}, b'{"message":"route not found"}', None

    def _trades(self, product: Product, params: dict[str, str], fault: Fault | None):
        try:
            limit = int(params.get("limit", MAX_LIMIT))
            after = int(params["after"]) if "after" in params else None
            before = int(params["before"]) if "before" in params else None
        except ValueError:
            return 400, {}, b'{"message":"invalid cursor or limit"}', None
        if not 1 <= limit <= MAX_LIMIT:
            return 400, {}, b'{"message":"limit must be between 1 and 1000"}', None
        ids = product.trade_id
        n = len(ids)
        rows = product.rows_newest_first
        if after is not None:                       # ids below `after`, newest first
            start = n - int(np.searchsorted(ids, after, side="left"))
            chosen = list(range(start, min(n, start + limit)))
        elif before is not None:                    # the `limit` ids just above `before`
            end = n - int(np.searchsorted(ids, before, side="right"))
            chosen = list(range(max(0, end - limit), end))
        else:
            chosen = list(range(min(n, limit)))
        page = [rows[k] for k in chosen]
        kind = fault.kind if fault is not None else None
        if kind == "malformed":
            return 200, {}, b'[{"time":"2025-01-01T00:00:00Z","trade_id":' + b"1" * 5, kind
        if kind == "bad_row" and page:
            broken = json.loads(page[len(page) // 2])
            del broken["price"]
            page[len(page) // 2] = json.dumps(broken).encode()
        if kind == "disordered":
            random.Random(len(page)).shuffle(page)
        if kind == "overlap" and chosen and chosen[0] >= 3:
            page = [rows[k] for k in range(chosen[0] - 3, chosen[0])] + page  # 3 newer trades again
        headers = {}
        if chosen:
            headers = {"CB-BEFORE": str(int(ids[n - 1 - chosen[0]])), "CB-AFTER": str(int(ids[n - 1 - chosen[-1]]))}
        return 200, headers, b"[" + b",".join(page) + b"]", kind

    def _candles(self, product: Product, params: dict[str, str]):
        try:
            granularity = int(params.get("granularity", "60"))
        except ValueError:
            granularity = -1
        if granularity not in GRANULARITIES:
            return 400, {}, b'{"message":"Unsupported granularity"}', None
        if ("start" in params) != ("end" in params):
            return 400, {}, b'{"message":"start and end must both be given"}', None
        step = granularity * NS
        if "start" in params:
            try:
                start = pd.Timestamp(params["start"]).value
                end = pd.Timestamp(params["end"]).value
            except ValueError:
                return 400, {}, b'{"message":"invalid start or end"}', None
        else:
            end = int(product.event_ns[-1]) - int(product.event_ns[-1]) % step + step
            start = end - MAX_CANDLES * step
        if (end - start) / step > MAX_CANDLES:
            return 400, {}, (b'{"message":"granularity too small for the requested time range. Count of '
                             b'aggregations requested exceeds 300"}'), None
        inside = (product.event_ns >= start) & (product.event_ns < end)
        frame = pd.DataFrame({"t": product.event_ns[inside] - product.event_ns[inside] % step,
                              "price": product.price[inside], "size": product.size[inside]})
        bars = frame.groupby("t").agg(low=("price", "min"), high=("price", "max"), open=("price", "first"),
                                      close=("price", "last"), volume=("size", "sum"))
        rows = [[int(t // NS), b.low, b.high, b.open, b.close, round(b.volume, 8)]
                for t, b in bars.sort_index(ascending=False).iterrows()]
        return 200, {}, json.dumps(rows).encode(), None


def _product_json(product_id: str) -> dict[str, Any]:
    base, quote = product_id.split("-")
    return {"id": product_id, "base_currency": base, "quote_currency": quote, "base_increment": "0.00000001",
            "quote_increment": "0.01", "status": "online", "trading_disabled": False, "cancel_only": False}


def _handler(standin: ExchangeRestStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive: clients reuse the connection as they do with the venue

        def log_message(self, *_args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            status, headers, body, fault = standin.answer(url.path, params)
            if standin.log_requests:
                with standin.lock:
                    standin.requests.append(Request(url.path, params, status, fault))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a synthetic Coinbase Exchange REST API on 127.0.0.1.")
    parser.add_argument("--pairs", default="BTC-USD", help="comma-separated products")
    parser.add_argument("--start", default="2025-01-01", help="first day (UTC)")
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--trades-per-day", type=int, default=100_000, help="per product")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    start = pd.Timestamp(args.start, tz="UTC").value
    end = start + int(args.days * 86400 * NS)
    products = [generate_product(pair, start_ns=start, end_ns=end, mean_spacing_s=86400 / args.trades_per_day,
                                 first_id=10_000_000 * (k + 1), seed=k + 1)
                for k, pair in enumerate(args.pairs.split(","))]
    server = ExchangeRestStandIn(products, port=args.port, log_requests=False)
    print(f"serving {server.url} {sum(len(p.trade_id) for p in products)} trades", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
