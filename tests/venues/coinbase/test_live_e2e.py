"""Wet mode end to end: a local server speaking Coinbase's protocol -> ingestion -> real Kafka."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter

import pytest

from streaming.ingestion.metrics import IngestCounters
from streaming.ingestion.publisher import KafkaTradePublisher
from streaming.ingestion.service import IngestionService, IngestReport
from streaming.venues.coinbase.live import CoinbaseAdapter
from tests.ingestion.kafka_io import decode_dead_letters, decode_trades, read_topic
from tests.venues.coinbase.fake_coinbase import (
    Drop,
    FakeCoinbase,
    Frame,
    Heartbeat,
    Raw,
    SkipSequence,
    Trades,
    cb_trade,
)
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.validation import format_timestamp_ns, parse_timestamp_ns
from tradestream.settings import Settings

pytestmark = pytest.mark.e2e

NOW_S = int(time.time()) - 60


def stamp(offset_ms: int, nanos: int = 0) -> str:
    """An RFC 3339 time a minute ago plus ``offset_ms``, with nanosecond digits."""
    return format_timestamp_ns((NOW_S * 1000 + offset_ms) * 1_000_000 + nanos)


BTC = {i: cb_trade(i, "BTC-USD", f"{64000 + i}.{i:02d}", f"0.00{i}1", "BUY" if i % 2 else "SELL",
                   stamp(i * 10, 123_456_789 % (i * 1000))) for i in range(1, 10)}
ETH = {i: cb_trade(i, "ETH-USD", f"{3100 + i}.5", f"1.{i}", "SELL", stamp(i * 7, i)) for i in range(101, 107)}
SOL = {i: cb_trade(i, "SOL-USD", f"{150 + i - 500}.25", "12", "buy", stamp(i)) for i in range(501, 505)}

BAD_TRADES = [
    (cb_trade("x1", "BTC-USD", "abc", "1", "BUY", stamp(50)), "non_numeric"),
    (cb_trade("x2", "BTC-USD", "64000", "0", "BUY", stamp(50)), "non_positive_size"),
    (cb_trade("x3", "BTC-USD", "NaN", "1", "BUY", stamp(50)), "non_finite"),
    (cb_trade("x4", "BTC-USD", "-5", "1", "SELL", stamp(50)), "non_positive_price"),
    ({k: v for k, v in cb_trade("x5", "BTC-USD", "64000", "1", "BUY", stamp(50)).items() if k != "side"},
     "missing_field"),
    (cb_trade("x6", "BTC-USD", "64000", "1", "BUY", "1970-01-01T00:00:00Z"), "absurd_timestamp"),
    (cb_trade("x7", "FOO-USD", "1", "1", "BUY", stamp(50)), "unknown_product"),
    (cb_trade("x8", "BTC-USD", "64000", "1", "HOLD", stamp(50)), "unknown_side"),
    (cb_trade("x9", "BTC-USD", "1e999", "1", "BUY", stamp(50)), "non_finite"),
]


def script(products: tuple[str, ...], attempt: int) -> list:
    if products == ("BTC-USD", "ETH-USD") and attempt == 0:
        return [
            Trades("snapshot", [BTC[1], BTC[2], BTC[3], ETH[101], ETH[102]]),
            Heartbeat(),
            Trades("update", [BTC[4], ETH[103]]),
            Raw("{not json"),
            Trades("update", [BTC[5], BTC[5], *(trade for trade, _ in BAD_TRADES)]),
            Frame({"channel": "level2", "events": []}),
            Trades("funky", [BTC[9]]),                 # an unknown event type: its trade must not pass
            Frame({"channel": "market_trades"}),     # no events
            SkipSequence(3),
            Trades("update", [ETH[104]]),
            Drop(),
        ]
    if products == ("BTC-USD", "ETH-USD"):
        # The snapshot after resubscribing overlaps what was already sent.
        return [
            Trades("snapshot", [BTC[3], BTC[4], BTC[5], BTC[6], ETH[103], ETH[104], ETH[105]]),
            Heartbeat(),
            Trades("update", [BTC[7], ETH[106], BTC[6]]),
        ]
    assert products == ("SOL-USD",), products
    return [
        Trades("snapshot", [SOL[501], SOL[502]]),
        Trades("update", [SOL[503]]),
        Raw(b"\x00\x01 binary"),
        Raw(json.dumps({"type": "error", "message": "rate limit exceeded"})),
        Raw("[1, 2]"),
        Trades("update", [SOL[504]]),
    ]


EXPECTED_UNIQUE = [*(BTC[i] for i in range(1, 8)), *ETH.values(), *SOL.values()]
EXPECTED_RECEIVED = 10 + 10 + 4
EXPECTED_REJECTED = Counter({"malformed_json": 2, "non_numeric": 1, "non_positive_size": 1, "non_finite": 2,
                             "non_positive_price": 1, "missing_field": 2, "absurd_timestamp": 1,
                             "unknown_product": 1, "unknown_side": 1, "unknown_channel": 1,
                             "unknown_event_type": 1, "exchange_error": 1, "not_an_object": 1})


def payload_json(letter) -> dict:
    try:
        decoded = json.loads(letter.payload)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def expected_record(raw: dict) -> TradeRecord:
    return TradeRecord("coinbase", raw["product_id"], raw["trade_id"], float(raw["price"]), float(raw["size"]),
                       TakerSide[raw["side"].upper()], parse_timestamp_ns(raw["time"]))


async def run_against_fake(settings: Settings) -> tuple[IngestReport, FakeCoinbase]:
    async with FakeCoinbase(script) as server:
        adapter = CoinbaseAdapter(server.url, ["BTC-USD", "ETH-USD", "SOL-USD"], products_per_connection=2,
                                  reconnect_base_s=0.05, reconnect_max_s=0.2, stale_after_s=5,
                                  rng=random.Random(7))
        counters = IngestCounters()
        publisher = KafkaTradePublisher(settings.kafka, settings.ingestion, counters)
        service = IngestionService(adapter, publisher, counters, log_every_s=1)
        run = asyncio.create_task(service.run())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not run.done():
            done = (counters.received >= EXPECTED_RECEIVED and counters.rejected_total >= EXPECTED_REJECTED.total()
                    and counters.published >= len(EXPECTED_UNIQUE)
                    and counters.dead_lettered >= EXPECTED_REJECTED.total())
            if done:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)   # anything extra (a duplicate that slipped through) would arrive now
        service.request_stop("test finished")
        return await run, server


def test_every_valid_trade_lands_once_and_every_reject_is_dead_lettered(topics: Settings) -> None:
    report, server = asyncio.run(run_against_fake(topics))

    assert report.clean, report
    c = report.counters
    assert c.received == EXPECTED_RECEIVED
    assert c.duplicates_dropped == EXPECTED_RECEIVED - len(EXPECTED_UNIQUE)
    assert c.published == len(EXPECTED_UNIQUE)
    assert Counter(c.rejected) == EXPECTED_REJECTED
    assert c.dead_lettered == EXPECTED_REJECTED.total()
    assert c.reconnects == 1
    assert (c.sequence_gaps, c.missing_frames) == (1, 3)

    # Products spread over two connections, each subscribed to trades and heartbeats; A connected twice.
    subscriptions = Counter(tuple(conn.products) for conn in server.connections)
    assert subscriptions == {("BTC-USD", "ETH-USD"): 2, ("SOL-USD",): 1}
    assert all(sorted(conn.channels) == ["heartbeats", "market_trades"] for conn in server.connections)

    records = read_topic(topics, topics.kafka.trades_topic)
    trades = decode_trades(records)
    assert len(trades) == len(EXPECTED_UNIQUE)
    assert Counter(trade.identity for trade in trades).most_common(1)[0][1] == 1
    assert sorted(trades) == sorted(expected_record(raw) for raw in EXPECTED_UNIQUE)
    for record, trade in zip(records, trades, strict=True):
        assert record.key == trade.currency_pair
        assert record.headers["schema"] == b"tradestream.v1.Trade"
        assert record.headers["schema-version"] == b"1"
    # Per pair, Kafka keeps the order in which trades were received.
    btc_ids = [t.trade_id for t in trades if t.currency_pair == "BTC-USD"]
    assert btc_ids == [str(i) for i in range(1, 8)]

    letters = decode_dead_letters(read_topic(topics, topics.kafka.dlq_topic))
    assert Counter(letter.reason for letter in letters) == EXPECTED_REJECTED
    assert {letter.source for letter in letters} == {"ingest:coinbase"}
    by_payload = {letter.payload: letter for letter in letters}
    assert by_payload[b"{not json"].reason == "malformed_json"
    assert by_payload[b"\x00\x01 binary"].reason == "malformed_json"
    for bad, reason in BAD_TRADES:
        matching = [letter for letter in letters if payload_json(letter).get("trade_id") == bad["trade_id"]]
        assert [letter.reason for letter in matching] == [reason], bad
        assert matching[0].detail, "a dead letter says what was wrong"
    unknown_event = next(letter for letter in letters if letter.reason == "unknown_event_type")
    assert json.loads(unknown_event.payload)["type"] == "funky"
    assert "funky" in unknown_event.detail
