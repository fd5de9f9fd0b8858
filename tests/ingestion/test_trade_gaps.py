"""Trade-id gaps of a live feed, and their repair over REST (the REST stand-in; no Kafka)."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np
import pandas as pd

from streaming.ingestion.metrics import IngestCounters
from streaming.ingestion.repair import GapRepairer
from streaming.venues.coinbase.history import CoinbaseHistoryClient
from tests.venues.coinbase.exchange_rest import NS, ExchangeRestStandIn, generate_product
from tradestream.backoff import Backoff
from tradestream.history.ids import IdSpan
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.trade_gaps import TradeIdGaps

S = 1_000_000_000


def test_a_jump_opens_a_gap_and_later_trades_inside_it_close_it():
    gaps = TradeIdGaps()
    assert gaps.observe("BTC-USD", "100", 0) is None
    assert gaps.observe("BTC-USD", "101", 0) is None
    assert gaps.observe("BTC-USD", "110", 1 * S) == IdSpan(102, 109)   # a snapshot's newest trade first
    for trade_id in ("109", "108", "105"):
        gaps.observe("BTC-USD", trade_id, 1 * S)
    assert [g.span for g in gaps.open["BTC-USD"]] == [IdSpan(102, 104), IdSpan(106, 107)]
    assert gaps.missing("BTC-USD") == 5 and gaps.gaps_seen == 1
    assert gaps.due(2 * S, 2 * S) == [], "the stream still has time to deliver them"
    assert [g.span for g in gaps.due(3 * S, 2 * S)] == [IdSpan(102, 104), IdSpan(106, 107)]
    assert gaps.missing("BTC-USD") == 0


def test_ids_that_are_not_numbers_are_not_tracked():
    gaps = TradeIdGaps()
    for trade_id in ("h1", "h7", "abc-123"):
        assert gaps.observe("BTC-USD", trade_id, 0) is None
    assert gaps.newest == {}


def repair_with(standin_url: str, counters: IngestCounters, published: list, **kwargs) -> GapRepairer:
    async def publish(records):
        published.extend(records)
        return len(records)

    client = CoinbaseHistoryClient(standin_url, rate_per_s=500, burst=50, backoff=Backoff(0.01, 0.02), max_attempts=2)
    return GapRepairer(client, ["BTC-USD"], counters, publish, delay_s=0.0, **kwargs)


def test_gaps_are_fetched_oldest_first_and_what_cannot_be_had_is_counted_by_reason():
    start = pd.Timestamp("2025-05-01", tz="UTC").value
    product = generate_product("BTC-USD", start_ns=start, end_ns=start + 3600 * NS, mean_spacing_s=2, first_id=1000,
                               seed=5, missing=frozenset({1500}))
    with ExchangeRestStandIn([product]) as standin:
        counters, published = IngestCounters(), []
        repairer = repair_with(standin.url, counters, published, max_ids=3000)

        async def scenario():
            live = [TradeRecord("coinbase", "BTC-USD", str(i), 1.0, 1.0, TakerSide.BUY, 0) for i in (1200, 1800)]
            repairer.observe(live, now_ns=0)                     # opens 1201-1799, with 1500 lost at the venue
            await repairer.repair_due(1)
            repairer.gaps.open_gap("BTC-USD", IdSpan(10, 9_999), 0)   # larger than max_ids
            await repairer.repair_due(2)
            standin.fail("500", times=10)
            repairer.gaps.open_gap("BTC-USD", IdSpan(1900, 1950), 0)
            await repairer.repair_due(3)
            await repairer.client.aclose()

        asyncio.run(scenario())
    ids = [int(r.trade_id) for r in published]
    assert ids == [i for i in range(1201, 1800) if i != 1500], "oldest first, each once"
    k = int(np.flatnonzero(product.trade_id == 1201)[0])
    assert (published[0].price, published[0].event_time_ns) == (product.price[k], product.event_ns[k])
    assert counters.trades_repaired == 598
    assert counters.trades_unrecoverable == Counter({"missing_at_venue": 1, "too_many": 9_990, "rest_failed": 51})
    assert counters.gaps_seen == 1
