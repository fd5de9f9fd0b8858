"""The venue's wire protocol, pure: the requests we send and the messages we accept.

No I/O here, so unit tests feed it recorded frames directly. Every trade goes through
``validate_trade`` (the one validation of untrusted input); whatever fails becomes a
``Rejection`` that the sink sends to the dead-letter topic with the payload as received.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tradestream.ingest.trade import TradeRecord
from tradestream.ingest.validation import InvalidInput, Rejection, RejectReason, TimeBounds, validate_trade

EXCHANGE = "template"


def subscribe_request(pairs: list[str]) -> dict[str, Any]:
    """The message that subscribes one connection to the trades of ``pairs``."""
    return {"type": "subscribe", "channel": "trades", "pairs": list(pairs)}


@dataclass(slots=True)
class ParsedMessage:
    trades: list[TradeRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def parse_message(raw: str | bytes, *, now_ns: int, bounds: TimeBounds,
                  known_pairs: frozenset[str] | None) -> ParsedMessage:
    """One WebSocket message -> its valid trades and its rejections (never raises on bad input)."""
    parsed = ParsedMessage()
    payload = raw.encode() if isinstance(raw, str) else raw
    try:
        message = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        parsed.rejections.append(Rejection(RejectReason.MALFORMED_JSON, f"message is not JSON: {exc}", payload))
        return parsed
    for trade in message.get("trades", []) if isinstance(message, dict) else []:
        if not isinstance(trade, dict):
            parsed.rejections.append(Rejection(RejectReason.WRONG_TYPE, "a trade is not an object",
                                               json.dumps(trade).encode()))
            continue
        try:
            parsed.trades.append(validate_trade(
                exchange=EXCHANGE, pair=trade.get("pair"), trade_id=trade.get("id"), price=trade.get("price"),
                size=trade.get("size"), side=trade.get("side"), event_time=trade.get("time"), now_ns=now_ns,
                bounds=bounds, known_pairs=known_pairs))
        except InvalidInput as exc:
            parsed.rejections.append(Rejection(exc.reason, exc.detail, json.dumps(trade).encode()))
    return parsed
