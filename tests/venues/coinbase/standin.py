"""A local stand-in for Coinbase Advanced Trade's order REST API (there is no internet here).

A real HTTP server on 127.0.0.1 speaking the documented protocol
(/work/shared/reference/exchange-apis.md §2): every request must carry a CDP JWT
(ES256, verified with the key's public half; ``kid`` = ``sub`` = the key name; ``nbf``/
``exp`` in force; ``uri`` = "METHOD host/path"; ``iss`` either "cdp" or the SDK's
"coinbase-cloud", since the sources disagree), else 401. Orders answer HTTP 200 with
``success`` and ``success_response`` or ``error_response``; errors elsewhere are
``{"error", "error_details", "message"}``.

Knobs for the tests, set between requests: ``reject_next`` (an error code such as
INSUFFICIENT_FUND for the next order), ``partial_next`` (fill only that fraction, the
IOC rest cancelled), ``delay_next_post_s`` (create the order, then answer late: the
client times out without knowing), ``rate_limit_next`` (that many 429s), ``open_polls``
(GETs that still show an order OPEN) and ``fills_page`` (page size of the fills list).
A market buy by ``quote_size`` spends that much, fee included; a sell by ``base_size``
receives the value less the fee. Each order fills in two trades.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

PREFIX = "/api/v3/brokerage"


@dataclass
class StandInState:
    prices: dict[str, float]
    quote_balance: float = 1_000_000.0
    fee_rate: float = 0.006
    reject_next: str | None = None
    partial_next: float | None = None
    delay_next_post_s: float = 0.0
    rate_limit_next: int = 0
    open_polls: int = 0
    fills_page: int = 100
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)
    posts: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, Any]] = field(default_factory=list)


class CoinbaseStandIn:
    def __init__(self, key_name: str, public_key: ec.EllipticCurvePublicKey, prices: dict[str, float]):
        self.key_name = key_name
        self.public_key = public_key
        self.state = StandInState(prices=dict(prices))
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="coinbase-standin", daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ behaviour
    def authenticate(self, method: str, path: str, header: str | None) -> str | None:
        """None when the JWT is good, else why not."""
        if not header or not header.startswith("Bearer "):
            return "missing bearer token"
        token = header.removeprefix("Bearer ")
        try:
            head = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"], options={"verify_aud": False,
                                                                                       "require": ["exp", "nbf"]})
        except jwt.PyJWTError as exc:
            return f"bad token: {exc}"
        with self.lock:
            self.state.claims.append(claims)
            self.state.headers.append(head)
        if head.get("kid") != self.key_name or claims.get("sub") != self.key_name:
            return "kid/sub is not the key name"
        if not head.get("nonce"):
            return "no nonce"
        if claims.get("iss") not in ("cdp", "coinbase-cloud"):
            return f"iss {claims.get('iss')!r}"
        if claims.get("uri") != f"{method} {self.host}{path}":
            return f"uri {claims.get('uri')!r} is not {method} {self.host}{path}"
        return None

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        cid, product, side = body.get("client_order_id"), body.get("product_id"), body.get("side")
        config = (body.get("order_configuration") or {}).get("market_market_ioc")
        if not cid or product not in s.prices or side not in ("BUY", "SELL") or not config:
            return _failure("INVALID_ARGUMENT" if product in s.prices else "UNKNOWN_PRODUCT",
                            f"bad order {body}")
        if cid in s.by_client_id:  # the same client order id again: the same order
            existing = s.orders[s.by_client_id[cid]]
            return _success(existing)
        if s.reject_next:
            error, s.reject_next = s.reject_next, None
            return _failure(error, "rejected by the stand-in")
        price = s.prices[product]
        if side == "BUY":
            if "quote_size" not in config:
                return _failure("UNSUPPORTED_ORDER_CONFIGURATION", "market buys take quote_size")
            quote = float(config["quote_size"])
            if quote > s.quote_balance:
                return _failure("INSUFFICIENT_FUND", f"quote balance {s.quote_balance} < {quote}")
            value = quote / (1 + s.fee_rate)
            base = value / price
        else:
            if "base_size" not in config:
                return _failure("UNSUPPORTED_ORDER_CONFIGURATION", "market sells take base_size")
            base = float(config["base_size"])
        fraction = 1.0
        if s.partial_next is not None:
            fraction, s.partial_next = s.partial_next, None
        order_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        filled = base * fraction
        fills = []
        for n, part in enumerate((0.4, 0.6)):
            size = filled * part
            fills.append({"entry_id": f"{order_id}-{n}", "trade_id": f"{order_id}-t{n}", "order_id": order_id,
                          "trade_time": now.isoformat().replace("+00:00", "Z"), "price": f"{price}",
                          "size": f"{size}", "commission": f"{size * price * s.fee_rate}",
                          "liquidity_indicator": "TAKER", "side": side, "product_id": product,
                          "size_in_quote": False})
        s.quote_balance += (-1 if side == "BUY" else 1) * filled * price
        s.orders[order_id] = {
            "order_id": order_id, "product_id": product, "side": side, "client_order_id": cid,
            "status": "FILLED" if fraction >= 1 else "CANCELLED", "filled_size": f"{filled}",
            "average_filled_price": f"{price}", "total_fees": f"{filled * price * s.fee_rate}",
            "created_time": now.isoformat().replace("+00:00", "Z"), "order_configuration": body["order_configuration"],
            "_open_polls": s.open_polls}
        s.fills[order_id] = fills
        s.by_client_id[cid] = order_id
        s.posts.append(body)
        return _success(s.orders[order_id])

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        order = self.state.orders.get(order_id)
        if order is None:
            return None
        shown = {k: v for k, v in order.items() if not k.startswith("_")}
        if order["_open_polls"] > 0:
            order["_open_polls"] -= 1
            shown["status"] = "OPEN"
        return shown

    def list_fills(self, query: dict[str, list[str]]) -> dict[str, Any]:
        order_ids = query.get("order_ids", [])
        rows = [f for oid in order_ids for f in self.state.fills.get(oid, [])]
        start = int(query.get("cursor", ["0"])[0] or 0)
        limit = min(int(query.get("limit", ["100"])[0]), self.state.fills_page)
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        return {"fills": page, "cursor": str(start + limit) if more else ""}

    def list_orders(self, query: dict[str, list[str]]) -> dict[str, Any]:
        products = set(query.get("product_ids", []))
        since = query.get("start_date", [""])[0]
        rows = [{k: v for k, v in o.items() if not k.startswith("_")} for o in self.state.orders.values()
                if (not products or o["product_id"] in products) and o["created_time"] >= since]
        start = int(query.get("cursor", ["0"])[0] or 0)
        limit = int(query.get("limit", ["100"])[0])
        more = start + limit < len(rows)
        return {"orders": rows[start:start + limit], "has_next": more, "cursor": str(start + limit) if more else "",
                "sequence": "0"}


def _success(order: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": order["order_id"],
            "success_response": {"order_id": order["order_id"], "product_id": order["product_id"],
                                 "side": order["side"], "client_order_id": order["client_order_id"]},
            "order_configuration": order["order_configuration"]}


def _failure(error: str, message: str) -> dict[str, Any]:
    return {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
            "error_response": {"error": error, "message": message, "error_details": message,
                               "preview_failure_reason": "UNKNOWN_PREVIEW_FAILURE_REASON",
                               "new_order_failure_reason": "UNKNOWN_FAILURE_REASON"}}


def _handler(standin: CoinbaseStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, error: str, message: str) -> None:
            self._send(status, {"error": error, "error_details": message, "message": message})

        def _common(self, method: str) -> tuple[str, dict[str, list[str]]] | None:
            url = urlsplit(self.path)
            with standin.lock:
                if standin.state.rate_limit_next > 0:
                    standin.state.rate_limit_next -= 1
                    self._error(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
                    return None
            problem = standin.authenticate(method, url.path, self.headers.get("Authorization"))
            if problem:
                self._error(401, "UNAUTHENTICATED", problem)
                return None
            return url.path, parse_qs(url.query)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            common = self._common("POST")
            if common is None:
                return
            path, _ = common
            if path != f"{PREFIX}/orders":
                self._error(404, "NOT_FOUND", f"no route {path}")
                return
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                self._error(400, "INVALID_ARGUMENT", "body is not JSON")
                return
            with standin.lock:
                answer = standin.create(body)
                delay, standin.state.delay_next_post_s = standin.state.delay_next_post_s, 0.0
            if delay:
                time.sleep(delay)  # the order exists; the answer comes too late for the client
            self._send(200, answer)

        def do_GET(self) -> None:  # noqa: N802
            common = self._common("GET")
            if common is None:
                return
            path, query = common
            with standin.lock:
                if path == f"{PREFIX}/orders/historical/fills":
                    self._send(200, standin.list_fills(query))
                elif path == f"{PREFIX}/orders/historical/batch":
                    self._send(200, standin.list_orders(query))
                elif path.startswith(f"{PREFIX}/orders/historical/"):
                    order = standin.get_order(path.rsplit("/", 1)[1])
                    if order is None:
                        self._error(404, "NOT_FOUND", "order not found")
                    else:
                        self._send(200, {"order": order})
                elif path.startswith(f"{PREFIX}/products/"):
                    product = path.rsplit("/", 1)[1]
                    if product not in standin.state.prices:
                        self._error(404, "NOT_FOUND", f"product {product} not found")
                    else:
                        self._send(200, {"product_id": product, "price": str(standin.state.prices[product]),
                                         "base_increment": "0.00000001", "quote_increment": "0.01",
                                         "base_min_size": "0.00000001", "quote_min_size": "1",
                                         "status": "online", "trading_disabled": False})
                else:
                    self._error(404, "NOT_FOUND", f"no route {path}")

    return Handler
