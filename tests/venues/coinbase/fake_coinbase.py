"""A local WebSocket server speaking the Coinbase Advanced Trade market-data protocol.

The one allowed stand-in for the exchange. It accepts ``subscribe`` requests for
``market_trades`` and ``heartbeats``, acknowledges each with a ``subscriptions`` frame,
numbers every frame on a connection with ``sequence_num`` from 0, and then plays a
script chosen per connection: trade frames (snapshot/update), heartbeats, raw bytes,
sequence jumps, pauses, abrupt disconnects, and forced reconnects that lose a run of
trades. When a script ends without a disconnect the server keeps sending heartbeats until
the client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


def cb_trade(trade_id: int | str, product: str, price: str, size: str, side: str, time: str) -> dict[str, Any]:
    return {"trade_id": str(trade_id), "product_id": product, "price": price, "size": size, "side": side,
            "time": time}


@dataclass
class Trades:
    kind: str                     # "snapshot" | "update" | anything (to test unknown event types)
    trades: list[Any]


@dataclass
class Heartbeat:
    pass


@dataclass
class Raw:
    """Sent verbatim (no sequence number is consumed)."""
    text: str | bytes


@dataclass
class Frame:
    """A frame dict sent as JSON; gets the next sequence_num unless it already has one."""
    body: dict[str, Any]


@dataclass
class SkipSequence:
    count: int


@dataclass
class Pause:
    seconds: float


@dataclass
class Drop:
    """Abort the TCP connection without a closing handshake (a network failure)."""


@dataclass
class ForcedReconnect:
    """Drop the connection (as ``Drop``) while ``missed`` trades happen at the venue: they are never sent on
    this connection, and the next connection's snapshot does not reach back to them. Only the venue's REST
    history (``tests/venues/coinbase/exchange_rest.py``) still holds them."""
    missed: list[Any]


Action = Trades | Heartbeat | Raw | Frame | SkipSequence | Pause | Drop | ForcedReconnect


@dataclass
class ConnectionLog:
    products: list[str]
    channels: list[str]
    frames_sent: int = 0


@dataclass
class FakeCoinbase:
    """``script(products, attempt)`` returns the actions for the ``attempt``-th connection
    (0-based, counted per subscribed product set)."""

    script: Callable[[tuple[str, ...], int], list[Action]]
    heartbeat_interval_s: float = 0.1
    connections: list[ConnectionLog] = field(default_factory=list)
    missed: list[Any] = field(default_factory=list)   # trades dropped by forced reconnects
    _attempts: dict[tuple[str, ...], int] = field(default_factory=dict)
    _server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}"

    async def __aenter__(self) -> Self:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        sequence = 0
        products: list[str] = []
        channels: list[str] = []

        async def send(body: dict[str, Any]) -> None:
            nonlocal sequence
            body = {"client_id": "", "timestamp": "2024-05-01T12:00:00.000000000Z", **body}
            body.setdefault("sequence_num", sequence)
            sequence = body["sequence_num"] + 1
            await ws.send(json.dumps(body))

        try:
            while not (products and "heartbeats" in channels):
                request = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
                if request.get("type") != "subscribe" or "channel" not in request:
                    await ws.send(json.dumps({"type": "error", "message": f"bad request {request}"}))
                    continue
                channels.append(request["channel"])
                products.extend(request.get("product_ids", []))
                await send({"channel": "subscriptions", "events": [{"subscriptions": {
                    "market_trades": list(products), **({"heartbeats": ["heartbeats"]} if "heartbeats" in channels
                                                        else {})}}]})
            key = tuple(products)
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
            log = ConnectionLog(list(products), list(channels))
            self.connections.append(log)
            counter = 0
            for action in self.script(key, attempt):
                match action:
                    case Trades(kind, trades):
                        await send({"channel": "market_trades", "events": [{"type": kind, "trades": trades}]})
                    case Heartbeat():
                        counter += 1
                        await send({"channel": "heartbeats", "events": [
                            {"current_time": "2024-05-01 12:00:00 +0000 UTC", "heartbeat_counter": counter}]})
                    case Raw(text):
                        await ws.send(text)
                    case Frame(body):
                        await send(dict(body))
                    case SkipSequence(count):
                        sequence += count
                    case Pause(seconds):
                        await asyncio.sleep(seconds)
                    case Drop():
                        ws.transport.abort()
                        return
                    case ForcedReconnect(missed):
                        self.missed.extend(missed)
                        ws.transport.abort()
                        return
                log.frames_sent += 1
            while True:
                counter += 1
                await send({"channel": "heartbeats", "events": [
                    {"current_time": "2024-05-01 12:00:00 +0000 UTC", "heartbeat_counter": counter}]})
                await asyncio.sleep(self.heartbeat_interval_s)
        except ConnectionClosed:
            return
        except TimeoutError:
            with contextlib.suppress(ConnectionClosed):
                await ws.close(1008, "no subscription")
