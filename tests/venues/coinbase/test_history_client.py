"""The Coinbase REST history client against the local stand-in of Coinbase Exchange (a real HTTP server)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pandas as pd
import pytest

from streaming.venues.coinbase.history import CoinbaseHistoryClient, parse_trades
from tests.venues.coinbase.exchange_rest import NS, ExchangeRestStandIn, generate_product
from tradestream.backoff import Backoff
from tradestream.history.venue import HistoryError, MalformedPage, TradePoint, UnknownProduct, VenueUnavailable
from tradestream.ingest.trade import TakerSide

START = pd.Timestamp("2025-03-01", tz="UTC").value
FULL_PAGE = {"limit": "1000"}


def full_pages(path: str, params: dict) -> bool:
    return path.endswith("/trades") and params.get("limit") == "1000"


@pytest.fixture(scope="module")
def product():
    return generate_product("BTC-USD", start_ns=START, end_ns=START + 86400 * NS, mean_spacing_s=20,
                            first_id=7_000_000, seed=3, missing=frozenset({7_000_050}))


@pytest.fixture
def standin(product):
    with ExchangeRestStandIn([product]) as server:
        yield server


def client_for(url: str, **kwargs) -> CoinbaseHistoryClient:
    kwargs.setdefault("rate_per_s", 1000)
    kwargs.setdefault("burst", 100)
    kwargs.setdefault("backoff", Backoff(base_s=0.01, max_s=0.05))
    return CoinbaseHistoryClient(url, **kwargs)


def run(coro_fn, url: str, **kwargs):
    async def main():
        client = client_for(url, **kwargs)
        try:
            return await coro_fn(client), client
        finally:
            await client.aclose()

    return asyncio.run(main())


def test_pages_go_back_by_id_newest_first_with_the_taker_side(standin, product):
    async def walk(client):
        newest = await client.newest_trade("BTC-USD")
        first = await client.trades_before("BTC-USD", newest.trade_id + 1, 1000)
        second = await client.trades_before("BTC-USD", int(first.trade_id.min()), 1000)
        return newest, first, second

    (newest, first, second), client = run(walk, standin.url)
    assert newest == TradePoint(int(product.trade_id[-1]), int(product.event_ns[-1]))
    assert len(first) == 1000 and (np.diff(first.trade_id) < 0).all()
    assert first.cursor == int(first.trade_id[-1]), "CB-AFTER names the page's oldest id"
    assert second.trade_id[0] == first.trade_id[-1] - 1, "cursors are exclusive"
    k = len(product.trade_id) - 1
    assert first.price[0] == product.price[k] and first.event_ns[0] == product.event_ns[k]
    expected_taker = TakerSide.SELL if product.maker_side[k] == "buy" else TakerSide.BUY
    assert first.taker_side[0] == expected_taker, "Coinbase's side is the maker's"


def test_a_one_trade_page_finds_the_trade_at_or_below_an_id_even_across_a_gap(standin):
    point, _ = run(lambda c: c.trade_at_or_before("BTC-USD", 7_000_050), standin.url)
    assert point.trade_id == 7_000_049, "7000050 is missing at the venue"
    assert run(lambda c: c.trade_at_or_before("BTC-USD", 6_999_999), standin.url)[0] is None


def test_429_waits_what_retry_after_asks_and_500_is_retried(standin):
    standin.fail("429", times=2, retry_after="0.4")
    standin.fail("500")
    started = time.monotonic()
    page, client = run(lambda c: c.trades_before("BTC-USD", 7_000_100, 10), standin.url)
    assert len(page) == 10
    assert time.monotonic() - started >= 0.8
    assert (client.counts.rate_limited, client.counts.server_errors, client.counts.requests) == (2, 1, 4)


def test_retries_that_run_out_name_the_request(standin):
    standin.fail("500", times=10)
    with pytest.raises(VenueUnavailable, match=r"GET http://127\.0\.0\.1:\d+/products/BTC-USD/trades\?after=7000100"
                                               r"&limit=10: HTTP 500 .*after 3 attempts"):
        run(lambda c: c.trades_before("BTC-USD", 7_000_100, 10), standin.url, max_attempts=3)


def test_a_malformed_page_is_asked_for_again_then_refused_with_pair_and_cursor(standin):
    standin.fail("malformed")
    page, client = run(lambda c: c.trades_before("BTC-USD", 7_002_000, 1000), standin.url)
    assert len(page) == 1000 and client.counts.malformed == 1
    standin.fail("bad_row", times=3, when=full_pages)
    with pytest.raises(MalformedPage, match=r"BTC-USD: GET /products/BTC-USD/trades\?after=7002000&limit=1000 "
                                            r"answered a malformed page 3 times: .*missing required field `price`"):
        run(lambda c: c.trades_before("BTC-USD", 7_002_000, 1000), standin.url)


def test_an_unknown_product_is_named(standin):
    with pytest.raises(UnknownProduct, match="unknown product 'FOO-USD' at coinbase .*NotFound"):
        run(lambda c: c.check_product("FOO-USD"), standin.url)
    assert run(lambda c: c.check_product("BTC-USD"), standin.url)[0] is None


def test_the_client_keeps_within_the_venues_rate_limit(product):
    # the stand-in answers 429 beyond 20 requests a second with bursts of 5, like Coinbase beyond 10/15
    with ExchangeRestStandIn([product], rate_per_s=20, burst=5) as limited:
        async def many(client):  # all at once: only the limiter spaces them
            await asyncio.gather(*(client.trade_at_or_before("BTC-USD", 7_000_010) for _ in range(35)))

        started = time.monotonic()
        # a little under the venue's numbers: requests leave the client spaced, and arrive with jitter
        _, client = run(many, limited.url, rate_per_s=18, burst=3)
        elapsed = time.monotonic() - started
        assert client.counts.rate_limited == 0
        assert elapsed >= (35 - 3) / 18 * 0.9

        async def greedy(client):
            return await asyncio.gather(*(client.trade_at_or_before("BTC-USD", 7_000_010) for _ in range(35)),
                                        return_exceptions=True)

        _, unlimited = run(greedy, limited.url, rate_per_s=1000, burst=100, max_attempts=1)
        assert unlimited.counts.rate_limited > 0, "without the limiter the stand-in does push back"


def test_bars_follow_the_granularity_rules(standin, product):
    bars, _ = run(lambda c: c.bars("BTC-USD", "1h", START, START + 300 * 3600 * NS), standin.url)
    assert len(bars) == 24 and (np.diff(bars.window_start_ns) > 0).all()
    in_first_hour = product.event_ns < START + 3600 * NS
    assert bars.open[0] == product.price[in_first_hour][0]
    assert bars.high[0] == product.price[in_first_hour].max()
    with pytest.raises(ValueError, match="must be aligned and hold 1 to 300 bars"):
        run(lambda c: c.bars("BTC-USD", "1m", START, START + 301 * 60 * NS), standin.url)
    with pytest.raises(ValueError, match="Coinbase serves no '4h' candles"):
        run(lambda c: c.bars("BTC-USD", "4h", START, START + 4 * 3600 * NS), standin.url)


def test_the_standin_refuses_what_the_venue_refuses(standin):
    async def raw(client, path, params):
        return await client._get(path, params)

    too_many, _ = run(lambda c: raw(c, "/products/BTC-USD/candles", {"granularity": 60, "start": "2025-03-01T00:00:00Z",
                                                                     "end": "2025-03-01T06:00:00Z"}), standin.url)
    assert too_many.status_code == 400 and b"exceeds 300" in too_many.content
    odd, _ = run(lambda c: raw(c, "/products/BTC-USD/candles", {"granularity": 120}), standin.url)
    assert odd.status_code == 400 and b"Unsupported granularity" in odd.content


@pytest.mark.parametrize(("body", "problem"), [
    (b"<html>busy</html>", "not JSON"),
    (b'{"message": "x"}', "does not hold Coinbase trades: Expected `array`, got `object`"),
    (b'[{"time": "2025-01-01T00:00:00Z", "trade_id": "7", "price": "1", "size": "1", "side": "buy"}]',
     r"Expected `int`, got `str` - at `\$\[0\].trade_id`"),
    (b'[{"time": "yesterday", "trade_id": 7, "price": "1", "size": "1", "side": "buy"}]', "ISO 8601"),
    (b'[{"time": "2025-01-01T00:00:00Z", "trade_id": 7, "price": "-1", "size": "1", "side": "buy"}]',
     "price='-1' is not a positive"),
    (b'[{"time": "2025-01-01T00:00:00Z", "trade_id": 7, "price": "1", "size": "1", "side": "hold"}]',
     "side='hold'"),
])
def test_malformed_pages_are_refused_naming_the_problem(body, problem):
    with pytest.raises(MalformedPage, match=problem):
        parse_trades(body)


def test_client_errors_other_than_404_are_reported_as_they_came(standin):
    async def bad(client):
        response = await client._get("/products/BTC-USD/trades", {"limit": 5000})
        from streaming.venues.coinbase.history import _raise_for_client_error

        _raise_for_client_error(response, "BTC-USD", "/products/BTC-USD/trades")

    with pytest.raises(HistoryError, match="HTTP 400: limit must be between 1 and 1000"):
        run(bad, standin.url)
