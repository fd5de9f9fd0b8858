"""Parsing Coinbase Advanced Trade frames (no network)."""

from __future__ import annotations

import json
import random

import pytest

from streaming.venues.coinbase.parsing import InvalidFrame, parse_frame, subscribe_requests
from tradestream.ingest.trade import TakerSide
from tradestream.ingest.validation import RejectReason, TimeBounds, format_timestamp_ns

NOW_NS = 1_715_000_000 * 10**9
PAIRS = frozenset({"BTC-USD", "ETH-USD"})
T = format_timestamp_ns(NOW_NS - 5 * 10**9 + 123_456_789)


def parse(frame) -> object:
    raw = frame if isinstance(frame, str | bytes) else json.dumps(frame)
    return parse_frame(raw, now_ns=NOW_NS, bounds=TimeBounds(), known_pairs=PAIRS)


def trades_frame(*events, sequence_num=3):
    return {"channel": "market_trades", "client_id": "", "timestamp": T, "sequence_num": sequence_num,
            "events": list(events)}


def trade(trade_id="1", product="BTC-USD", price="64000.01", size="0.5", side="SELL", time=T):
    return {"trade_id": trade_id, "product_id": product, "price": price, "size": size, "side": side, "time": time}


def test_subscribing_asks_for_trades_and_heartbeats() -> None:
    assert subscribe_requests(["BTC-USD", "ETH-USD"]) == [
        {"type": "subscribe", "channel": "market_trades", "product_ids": ["BTC-USD", "ETH-USD"]},
        {"type": "subscribe", "channel": "heartbeats"},
    ]
    with pytest.raises(ValueError, match="at least one product"):
        subscribe_requests([])


def test_snapshot_and_update_events_yield_exact_trades() -> None:
    frame = parse(trades_frame({"type": "snapshot", "trades": [trade("1"), trade("2", "ETH-USD", "3000", "2", "buy")]},
                               {"type": "update", "trades": [trade("3")]}))
    assert frame.sequence_num == 3
    assert frame.event_types == ["snapshot", "update"]
    assert [(t.currency_pair, t.trade_id, t.price, t.size, t.taker_side) for t in frame.trades] == [
        ("BTC-USD", "1", 64000.01, 0.5, TakerSide.SELL), ("ETH-USD", "2", 3000.0, 2.0, TakerSide.BUY),
        ("BTC-USD", "3", 64000.01, 0.5, TakerSide.SELL)]
    assert frame.trades[0].event_time_ns == NOW_NS - 5 * 10**9 + 123_456_789
    assert {t.exchange for t in frame.trades} == {"coinbase"}
    assert frame.rejections == []


def test_heartbeats_and_subscription_acks_carry_no_trades() -> None:
    heartbeat = parse({"channel": "heartbeats", "sequence_num": 9, "events": [{"heartbeat_counter": 3}]})
    assert (heartbeat.channel, heartbeat.sequence_num, heartbeat.trades) == ("heartbeats", 9, [])
    ack = parse({"channel": "subscriptions", "sequence_num": 0,
                 "events": [{"subscriptions": {"market_trades": ["BTC-USD"]}}]})
    assert ack.subscriptions == {"market_trades": ["BTC-USD"]}


@pytest.mark.parametrize(("raw", "reason", "sequence_num"), [
    ("{not json", RejectReason.MALFORMED_JSON, None),
    (b"\xff\xfe", RejectReason.MALFORMED_JSON, None),
    ("[1, 2]", RejectReason.NOT_AN_OBJECT, None),
    ('{"type": "error", "message": "failure to subscribe"}', RejectReason.EXCHANGE_ERROR, None),
    ('{"channel": "market_trades", "events": []}', RejectReason.MISSING_FIELD, None),
    ('{"channel": "market_trades", "sequence_num": "7", "events": []}', RejectReason.BAD_SEQUENCE, None),
    ('{"channel": "level2", "sequence_num": 7, "events": []}', RejectReason.UNKNOWN_CHANNEL, 7),
    ('{"channel": "market_trades", "sequence_num": 8}', RejectReason.MISSING_FIELD, 8),
    ('{"channel": "market_trades", "sequence_num": 8, "events": {}}', RejectReason.WRONG_TYPE, 8),
])
def test_unusable_frames_are_refused_whole_and_keep_their_sequence_number(raw, reason, sequence_num) -> None:
    with pytest.raises(InvalidFrame) as caught:
        parse(raw)
    assert caught.value.reason is reason
    assert caught.value.sequence_num == sequence_num


def test_one_bad_trade_or_event_never_costs_its_neighbours() -> None:
    frame = parse(trades_frame(
        {"type": "update", "trades": [trade("1"), trade("2", price="NaN"), trade("3", side="HOLD"), "oops",
                                      {k: v for k, v in trade("4").items() if k != "size"}, trade("5")]},
        {"type": "level_change", "trades": [trade("6")]},
        {"type": "snapshot"},
    ))
    assert [t.trade_id for t in frame.trades] == ["1", "5"]
    assert [r.reason for r in frame.rejections] == [
        RejectReason.NON_FINITE, RejectReason.UNKNOWN_SIDE, RejectReason.WRONG_TYPE, RejectReason.MISSING_FIELD,
        RejectReason.UNKNOWN_EVENT_TYPE, RejectReason.MISSING_FIELD]
    nan_reject = frame.rejections[0]
    assert json.loads(nan_reject.payload)["trade_id"] == "2"   # the trade itself is the dead letter's payload
    assert nan_reject.currency_pair == "BTC-USD"
    assert "price='NaN'" in nan_reject.detail and "trade 1" in nan_reject.detail
    assert json.loads(frame.rejections[4].payload)["type"] == "level_change"


def test_trades_for_pairs_not_subscribed_are_refused() -> None:
    frame = parse(trades_frame({"type": "update", "trades": [trade("1", product="DOGE-USD")]}))
    assert frame.trades == [] and frame.rejections[0].reason is RejectReason.UNKNOWN_PRODUCT


_WEIRD = [None, True, -1, 0, 10**400, 1e308, "", "x", "NaN", [], {}, [1, "a"], {"a": {"b": []}}, "2024-13-45T99:99:99Z"]


def _mutations(value, rng):
    """Yield copies of a JSON value with one leaf or key replaced, dropped or added."""
    if isinstance(value, dict):
        for key in list(value):
            for child in _mutations(value[key], rng):
                yield {**value, key: child}
            yield {k: v for k, v in value.items() if k != key}
        yield {**value, "extra": rng.choice(_WEIRD)}
    elif isinstance(value, list):
        for i, item in enumerate(value):
            for child in _mutations(item, rng):
                yield [*value[:i], child, *value[i + 1:]]
        yield [*value, rng.choice(_WEIRD)]
    yield from _WEIRD


def test_no_mutation_of_a_valid_frame_makes_the_parser_fail_other_than_by_refusing_it() -> None:
    rng = random.Random(1)
    base = trades_frame({"type": "update", "trades": [trade("1"), trade("2", "ETH-USD")]})
    outcomes = {"parsed": 0, "refused": 0}
    for mutated in _mutations(base, rng):
        for raw in (json.dumps(mutated), json.dumps(mutated)[: rng.randrange(1, 40)]):
            try:
                frame = parse(raw)
            except InvalidFrame:
                outcomes["refused"] += 1
                continue
            outcomes["parsed"] += 1
            assert all(t.price > 0 and t.size > 0 for t in frame.trades)
    assert outcomes["parsed"] > 50 and outcomes["refused"] > 50


def test_absurdly_nested_or_huge_input_is_refused_not_crashed_on() -> None:
    with pytest.raises(InvalidFrame) as caught:
        parse("[" * 100_000 + "]" * 100_000)
    assert caught.value.reason is RejectReason.UNPROCESSABLE
    frame = parse(trades_frame({"type": "update", "trades": [trade("1", price=10**400)]}))
    assert frame.rejections[0].reason is RejectReason.NON_FINITE
