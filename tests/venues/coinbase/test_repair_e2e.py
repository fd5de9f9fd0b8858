"""Gap repair end to end: the WebSocket stand-in drops a run of trades in a forced reconnect, the REST
stand-in still holds them, and ingestion publishes every trade to real Kafka exactly once."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import numpy as np
import pytest

from streaming.ingestion.metrics import IngestCounters
from streaming.ingestion.publisher import KafkaTradePublisher
from streaming.ingestion.repair import GapRepairer
from streaming.ingestion.service import IngestionService
from streaming.venues.coinbase.history import CoinbaseHistoryClient
from streaming.venues.coinbase.live import CoinbaseAdapter
from tests.ingestion.kafka_io import decode_trades, read_topic
from tests.venues.coinbase.exchange_rest import ExchangeRestStandIn, Product
from tests.venues.coinbase.fake_coinbase import FakeCoinbase, ForcedReconnect, Heartbeat, Trades, cb_trade
from tradestream.backoff import Backoff
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.validation import format_timestamp_ns
from tradestream.settings import Settings
from tradestream.v1 import market_pb2

pytestmark = pytest.mark.e2e

NOW_NS = (int(time.time()) - 180) * 1_000_000_000
LOST_AT_VENUE = 1020     # neither the stream nor the REST API has it


def market(pair: str, ids: range, price: float) -> Product:
    rng = np.random.default_rng(len(pair) + ids.start)
    kept = np.array([i for i in ids if i != LOST_AT_VENUE], dtype=np.int64)
    times = NOW_NS + (kept - ids.start) * 2_000_000_000 + rng.integers(0, 1_000_000, len(kept)) * 1000
    prices = np.round(price + np.cumsum(rng.normal(0, 1, len(kept))), 2)
    sizes = np.round(rng.uniform(0.01, 1, len(kept)), 8)
    maker = np.where(rng.random(len(kept)) < 0.5, "buy", "sell").astype(object)
    return Product(pair, kept, times, prices, sizes, maker)


BTC = market("BTC-USD", range(1001, 1041), 64_000.0)
ETH = market("ETH-USD", range(501, 511), 3_100.0)


def ws_trade(product: Product, trade_id: int) -> dict:
    """The trade as the Advanced Trade WebSocket sends it: the side is the taker's."""
    k = int(np.flatnonzero(product.trade_id == trade_id)[0])
    taker = "BUY" if product.maker_side[k] == "sell" else "SELL"
    return cb_trade(trade_id, product.product_id, f"{product.price[k]:.2f}", f"{product.size[k]:.8f}", taker,
                    format_timestamp_ns(int(product.event_ns[k])))


def expected(product: Product, trade_id: int) -> TradeRecord:
    k = int(np.flatnonzero(product.trade_id == trade_id)[0])
    taker = TakerSide.BUY if product.maker_side[k] == "sell" else TakerSide.SELL
    return TradeRecord("coinbase", product.product_id, str(trade_id), float(f"{product.price[k]:.2f}"),
                       float(f"{product.size[k]:.8f}"), taker, int(product.event_ns[k]) // 1000 * 1000)


def script(products: tuple[str, ...], attempt: int) -> list:
    if attempt == 0:
        return [Trades("snapshot", [ws_trade(BTC, i) for i in range(1001, 1006)] +
                       [ws_trade(ETH, i) for i in range(501, 506)]),
                Heartbeat(),
                Trades("update", [ws_trade(BTC, i) for i in range(1006, 1011)]),
                # BTC 1011-1030 and ETH 506-510 happen while the client is away
                ForcedReconnect([ws_trade(BTC, i) for i in range(1011, 1031) if i != LOST_AT_VENUE] +
                                [ws_trade(ETH, i) for i in range(506, 511)])]
    # the snapshot after resubscribing reaches back only five trades, newest first; ETH has gone quiet
    return [Trades("snapshot", [ws_trade(BTC, i) for i in range(1035, 1030, -1)]),
            Heartbeat(),
            Trades("update", [ws_trade(BTC, i) for i in range(1036, 1041)])]


WANTED = [expected(BTC, int(i)) for i in BTC.trade_id] + [expected(ETH, int(i)) for i in ETH.trade_id]
REPAIRED = {("BTC-USD", str(i)) for i in range(1011, 1031) if i != LOST_AT_VENUE} | \
    {("ETH-USD", str(i)) for i in range(506, 511)}


async def run_with_repair(settings: Settings):
    with ExchangeRestStandIn([BTC, ETH]) as rest:
        async with FakeCoinbase(script) as ws:
            adapter = CoinbaseAdapter(ws.url, ["BTC-USD", "ETH-USD"], products_per_connection=2,
                                      reconnect_base_s=0.05, reconnect_max_s=0.2, stale_after_s=5,
                                      rng=random.Random(3))
            counters = IngestCounters()
            publisher = KafkaTradePublisher(settings.kafka, settings.ingestion, counters)

            def repair(service: IngestionService) -> GapRepairer:
                client = CoinbaseHistoryClient(rest.url, rate_per_s=100, burst=20, backoff=Backoff(0.01, 0.05))
                return GapRepairer(client, ["BTC-USD", "ETH-USD"], service.counters, service.repaired, delay_s=0.5,
                                   check_every_s=0.05)

            service = IngestionService(adapter, publisher, counters, log_every_s=1, repair=repair)
            run = asyncio.create_task(service.run())
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not run.done():
                if counters.published >= len(WANTED) and counters.reconnects and service.repairer.idle \
                        and counters.trades_repaired + sum(counters.trades_unrecoverable.values()) >= len(REPAIRED) + 1:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)   # a duplicate that slipped through would arrive now
            service.request_stop("test finished")
            return await run, ws, rest


def test_trades_lost_in_a_forced_reconnect_are_repaired_over_rest_exactly_once(topics: Settings) -> None:
    report, ws, rest = asyncio.run(run_with_repair(topics))
    assert report.clean, report
    c = report.counters
    assert len(ws.missed) == len(REPAIRED), "the stand-in really dropped that run"
    assert c.trades_repaired == len(REPAIRED)
    assert c.trades_unrecoverable == Counter({"missing_at_venue": 1})
    assert c.gaps_seen >= 2   # BTC's jump when the snapshot came back, ETH found by the probe after the reconnect

    records = read_topic(topics, topics.kafka.trades_topic)
    trades = decode_trades(records)
    assert Counter(t.identity for t in trades).most_common(1)[0][1] == 1, "every trade exactly once"
    assert sorted(trades) == sorted(WANTED)
    flagged = {(t.currency_pair, t.trade_id) for t, r in zip(trades, records, strict=True)
               if market_pb2.Trade.FromString(r.value).repaired}
    assert flagged == REPAIRED, "repaired trades are marked, live ones are not"
    for pair in ("BTC-USD", "ETH-USD"):
        assert len({r.partition for r in records if r.key == pair}) == 1, "repairs go to the pair's partition"
    btc_cursors = [int(r.params["after"]) for r in rest.requests_for("/products/BTC-USD/trades") if "after" in r.params]
    assert btc_cursors and max(btc_cursors) <= 1031, "only the missing ids were asked for"
