"""The Coinbase Advanced Trade WebSocket protocol: requests we send, frames we accept.

Pure functions only; the connection handling lives in ``live.py`` next to this file.
Frames look like::

    {"channel": "market_trades", "client_id": "", "timestamp": "2024-05-01T12:00:00.1Z",
     "sequence_num": 7, "events": [{"type": "snapshot" | "update",
       "trades": [{"trade_id": "1", "product_id": "BTC-USD", "price": "64000.01",
                   "size": "0.01", "side": "BUY", "time": "2024-05-01T12:00:00.05Z"}]}]}

plus ``subscriptions`` acknowledgements, ``heartbeats`` and ``{"type": "error"}`` frames.
``sequence_num`` counts every frame on one connection, whatever its channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tradestream.ingest.trade import TradeRecord
from tradestream.ingest.validation import InvalidInput, Rejection, RejectReason, TimeBounds, validate_trade

EXCHANGE = "coinbase"
MARKET_TRADES = "market_trades"
HEARTBEATS = "heartbeats"
SUBSCRIPTIONS = "subscriptions"
KNOWN_CHANNELS = frozenset({MARKET_TRADES, HEARTBEATS, SUBSCRIPTIONS})
TRADE_EVENT_TYPES = frozenset({"snapshot", "update"})


def subscribe_requests(products: list[str]) -> list[dict[str, Any]]:
    """The two subscribe messages for one connection: trades, and heartbeats to keep it open."""
    if not products:
        raise ValueError("a Coinbase connection needs at least one product to subscribe to")
    return [
        {"type": "subscribe", "channel": MARKET_TRADES, "product_ids": list(products)},
        {"type": "subscribe", "channel": HEARTBEATS},
    ]


class InvalidFrame(InvalidInput):
    """The whole frame is refused; ``sequence_num`` is set when the frame carried a valid one."""

    def __init__(self, reason: RejectReason, detail: str, sequence_num: int | None = None):
        super().__init__(reason, detail)
        self.sequence_num = sequence_num


@dataclass(slots=True)
class CoinbaseFrame:
    """One parsed frame. Bad trades inside a good frame are in ``rejections``."""

    channel: str
    sequence_num: int
    trades: list[TradeRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    event_types: list[str] = field(default_factory=list)
    subscriptions: dict[str, Any] | None = None


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str).encode()


def parse_frame(
    raw: str | bytes,
    *,
    now_ns: int,
    bounds: TimeBounds,
    known_pairs: frozenset[str] | None,
) -> CoinbaseFrame:
    """Parse one WebSocket message.

    Raises :class:`InvalidFrame` when the frame as a whole is unusable (the caller
    dead-letters the raw frame). A bad event or trade inside an otherwise sound frame is
    returned as a :class:`Rejection` whose payload is that event or trade as JSON, so one
    bad trade never costs its neighbours.
    """
    try:
        message = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidFrame(RejectReason.MALFORMED_JSON, f"frame is not JSON: {exc}") from None
    except RecursionError:
        raise InvalidFrame(RejectReason.UNPROCESSABLE, "frame nests too deeply to parse") from None
    if not isinstance(message, dict):
        raise InvalidFrame(RejectReason.NOT_AN_OBJECT, f"frame is a JSON {type(message).__name__}, expected an object")
    if message.get("type") == "error":
        raise InvalidFrame(RejectReason.EXCHANGE_ERROR, f"exchange reported an error: {message.get('message')!r}")
    sequence_num = message.get("sequence_num")
    if sequence_num is None:
        raise InvalidFrame(RejectReason.MISSING_FIELD,
                           f"frame (channel {message.get('channel')!r}) has no 'sequence_num'")
    if not isinstance(sequence_num, int) or isinstance(sequence_num, bool) or sequence_num < 0:
        raise InvalidFrame(RejectReason.BAD_SEQUENCE, f"sequence_num={sequence_num!r} is not a non-negative integer")
    # From here on the frame's number is known: a rejected frame still counts for gap detection.
    channel = message.get("channel")
    if channel is None:
        raise InvalidFrame(RejectReason.MISSING_FIELD, f"frame #{sequence_num} has no 'channel'", sequence_num)
    if not isinstance(channel, str) or channel not in KNOWN_CHANNELS:
        raise InvalidFrame(RejectReason.UNKNOWN_CHANNEL,
                           f"channel={channel!r} was not subscribed (expected one of {sorted(KNOWN_CHANNELS)})",
                           sequence_num)
    events = message.get("events")
    if events is None:
        raise InvalidFrame(RejectReason.MISSING_FIELD, f"{channel} frame #{sequence_num} has no 'events'",
                           sequence_num)
    if not isinstance(events, list):
        raise InvalidFrame(RejectReason.WRONG_TYPE,
                           f"events={events!r:.80} in {channel} frame #{sequence_num} is not a list", sequence_num)

    frame = CoinbaseFrame(channel=channel, sequence_num=sequence_num)
    if channel == SUBSCRIPTIONS:
        for event in events:
            if isinstance(event, dict) and isinstance(event.get("subscriptions"), dict):
                frame.subscriptions = event["subscriptions"]
        return frame
    if channel == HEARTBEATS:
        return frame

    for index, event in enumerate(events):
        where = f"market_trades frame #{sequence_num} event {index}"
        if not isinstance(event, dict):
            frame.rejections.append(Rejection(RejectReason.WRONG_TYPE, f"{where} is not an object", _compact(event)))
            continue
        event_type = event.get("type")
        if not isinstance(event_type, str) or event_type not in TRADE_EVENT_TYPES:
            frame.rejections.append(Rejection(
                RejectReason.UNKNOWN_EVENT_TYPE,
                f"{where} has type={event_type!r}, expected one of {sorted(TRADE_EVENT_TYPES)}", _compact(event)))
            continue
        trades = event.get("trades")
        if not isinstance(trades, list):
            reason = RejectReason.MISSING_FIELD if trades is None else RejectReason.WRONG_TYPE
            frame.rejections.append(Rejection(reason, f"{where} has no list of 'trades'", _compact(event)))
            continue
        frame.event_types.append(event_type)
        for position, trade in enumerate(trades):
            _parse_trade(frame, trade, f"{where} trade {position}", now_ns, bounds, known_pairs)
    return frame


_TRADE_FIELDS = ("trade_id", "product_id", "price", "size", "side", "time")


def _parse_trade(frame: CoinbaseFrame, trade: Any, where: str, now_ns: int, bounds: TimeBounds,
                 known_pairs: frozenset[str] | None) -> None:
    if not isinstance(trade, dict):
        frame.rejections.append(Rejection(RejectReason.WRONG_TYPE, f"{where} is not an object", _compact(trade)))
        return
    pair = trade.get("product_id") if isinstance(trade.get("product_id"), str) else None
    missing = [name for name in _TRADE_FIELDS if name not in trade]
    if missing:
        frame.rejections.append(Rejection(RejectReason.MISSING_FIELD, f"{where} lacks {', '.join(missing)}",
                                          _compact(trade), pair))
        return
    try:
        record = validate_trade(
            exchange=EXCHANGE, pair=trade["product_id"], trade_id=trade["trade_id"], price=trade["price"],
            size=trade["size"], side=trade["side"], event_time=trade["time"], now_ns=now_ns, bounds=bounds,
            known_pairs=known_pairs)
    except InvalidInput as exc:
        frame.rejections.append(Rejection(exc.reason, f"{where}: {exc.detail}", _compact(trade), pair))
        return
    frame.trades.append(record)
