"""The Coinbase order adapter against a local stand-in of the Advanced Trade REST API."""

from __future__ import annotations

import json
import logging
import pickle
from decimal import ROUND_DOWN, Decimal

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from streaming.venues.coinbase.execution import (
    CdpCredentials,
    CoinbaseExecution,
    CoinbaseOrderClient,
    MissingCredentials,
)
from tests.execution.builders import account, allocation, close_of, config, signal
from tests.venues.coinbase.standin import CoinbaseStandIn
from tradestream.execution.executor import Executor
from tradestream.v1 import execution_pb2 as pb

KEY_NAME = "organizations/org-1/apiKeys/key-1"
PRICE = 50_000.0


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def pem(private_key) -> str:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()).decode()


@pytest.fixture
def standin(private_key):
    server = CoinbaseStandIn(KEY_NAME, private_key.public_key(), {"BTC-USD": PRICE})
    yield server
    server.close()


@pytest.fixture
def credentials(pem) -> CdpCredentials:
    return CdpCredentials.from_environment({"COINBASE_API_KEY": KEY_NAME, "COINBASE_API_SECRET": pem})


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def adapter(standin, credentials, *, timeout_s: float = 2.0, **options) -> tuple[CoinbaseExecution, Sleeps]:
    sleeps = Sleeps()
    client = CoinbaseOrderClient(credentials, base_url=standin.base_url, timeout_s=timeout_s, sleep=sleeps)
    return CoinbaseExecution(client, poll_interval_s=0.01, sleep=sleeps, **options), sleeps


def live_executor() -> Executor:
    cfg = config(account("live", cash=10_000, mode="live", allocations=[allocation(fees=0.006)]))
    return Executor(cfg, live_accounts=["live"])


def buy(ex: Executor, minute: int = 0) -> pb.Order:
    (order,) = ex.on_signal(signal("BUY", minute, PRICE), close_of(minute)).orders
    assert order.status == pb.ORDER_STATUS_PENDING and order.fill_model == pb.FILL_MODEL_VENUE
    return order


def test_a_buy_and_a_sell_are_placed_filled_and_booked(standin, credentials):
    ex, (venue, _) = live_executor(), adapter(standin, credentials)
    order = buy(ex)
    report = venue.submit(order)
    assert report.status == "filled" and len(report.fills) == 2
    (posted,) = standin.state.posts
    assert posted == {"client_order_id": order.client_order_id, "product_id": "BTC-USD", "side": "BUY",
                      "order_configuration": {"market_market_ioc": {"quote_size": "10000.00"}}}
    out = ex.on_venue_report(report)
    assert [f.fill_model for f in out.fills] == [pb.FILL_MODEL_VENUE] * 2
    assert [o.status for o in out.orders] == [pb.ORDER_STATUS_FILLED]
    ledger = ex.ledger(order.allocation_id)
    assert ledger.units == pytest.approx(10_000 / 1.006 / PRICE, rel=1e-12)
    assert ledger.cash == pytest.approx(0.0, abs=1e-6)
    assert not ex.on_venue_report(report)  # reported again: nothing booked twice

    (sell,) = ex.on_signal(signal("SELL", 1, PRICE), close_of(1)).orders
    report = venue.submit(sell)
    sold = standin.state.posts[-1]["order_configuration"]["market_market_ioc"]["base_size"]
    assert sold == str(Decimal(repr(sell.base_size)).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN))
    out = ex.on_venue_report(report)  # the rounding dust under 1e-8 BTC is written off
    assert ex.ledger(order.allocation_id).units == 0.0 and ex.ledger(order.allocation_id).closed_trades == 1
    assert out.positions[-1].units == 0.0
    assert ex.ledger(order.allocation_id).cash == pytest.approx(10_000 / 1.006 * (1 - 0.006), rel=1e-6)


def test_the_jwt_carries_the_documented_claims(standin, credentials):
    venue, _ = adapter(standin, credentials)
    venue.submit(buy(live_executor()))
    post_claims = next(c for c in standin.state.claims if c["uri"].startswith("POST "))
    assert post_claims["uri"] == f"POST {standin.host}/api/v3/brokerage/orders"
    assert post_claims["sub"] == KEY_NAME and post_claims["iss"] == "cdp"
    assert post_claims["exp"] - post_claims["nbf"] == 120
    assert all(h["kid"] == KEY_NAME and h["alg"] == "ES256" and len(h["nonce"]) >= 32
               for h in standin.state.headers)
    assert len({h["nonce"] for h in standin.state.headers}) == len(standin.state.headers)


def test_a_wrong_key_is_refused_by_the_standin(standin):
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    venue, _ = adapter(standin, CdpCredentials(KEY_NAME, other))
    report = venue.submit(buy(live_executor()))  # the product lookup is refused: 401
    assert report.status == "rejected" and "401" in report.detail and not standin.state.posts


def test_the_secret_never_shows(pem, credentials, standin, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    venue, _ = adapter(standin, credentials)
    venue.submit(buy(live_executor()))
    body = pem.splitlines()[1]
    for text in (repr(credentials), str(credentials), repr(venue._client), caplog.text):
        assert body not in text and "PRIVATE KEY" not in text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(credentials)
    with pytest.raises(ValueError) as caught:
        CdpCredentials(KEY_NAME, pem.replace(body, body[::-1]))
    assert body[::-1] not in str(caught.value) and caught.value.__cause__ is None


def test_credentials_from_a_mounted_secret_file_or_a_clear_error(pem, tmp_path):
    path = tmp_path / "cdp_api_key.json"
    path.write_text(json.dumps({"name": KEY_NAME, "privateKey": pem}))
    assert CdpCredentials.from_environment({"COINBASE_API_KEY_FILE": str(path)}).name == KEY_NAME
    with pytest.raises(MissingCredentials, match="COINBASE_API_KEY"):
        CdpCredentials.from_environment({"COINBASE_API_KEY_FILE": str(tmp_path / "none.json")})
    escaped = pem.replace("\n", "\\n")  # a one-line env value, as a Secret often holds it
    assert CdpCredentials.from_environment({"COINBASE_API_KEY": KEY_NAME, "COINBASE_API_SECRET": escaped}).name


def test_a_rejected_order_is_a_risk_event_and_changes_nothing(standin, credentials):
    ex, (venue, _) = live_executor(), adapter(standin, credentials)
    order = buy(ex)
    standin.state.reject_next = "INSUFFICIENT_FUND"
    report = venue.submit(order)
    assert report.status == "rejected" and report.detail.startswith("INSUFFICIENT_FUND")
    out = ex.on_venue_report(report)
    (event,) = out.risk_events
    assert event.reason == pb.RISK_REASON_VENUE_REJECTED and "INSUFFICIENT_FUND" in event.detail
    assert ex.ledger(order.allocation_id).cash == 10_000 and not ex.pending_orders()


def test_a_partial_fill_books_what_filled(standin, credentials):
    ex, (venue, _) = live_executor(), adapter(standin, credentials)
    order = buy(ex)
    standin.state.partial_next = 0.5
    report = venue.submit(order)
    assert report.status == "partially_filled"
    out = ex.on_venue_report(report)
    assert [o.status for o in out.orders] == [pb.ORDER_STATUS_PARTIALLY_FILLED]
    ledger = ex.ledger(order.allocation_id)
    assert ledger.units == pytest.approx(0.5 * 10_000 / 1.006 / PRICE, rel=1e-12)
    assert ledger.cash == pytest.approx(5_000.0, rel=1e-9)


def test_a_timed_out_post_is_found_by_its_client_id_not_placed_again(standin, credentials):
    ex, (venue, _) = live_executor(), adapter(standin, credentials, timeout_s=0.3)
    order = buy(ex)
    standin.state.delay_next_post_s = 1.0
    report = venue.submit(order)
    assert report.status == "filled"
    assert len(standin.state.posts) == 1
    ex.on_venue_report(report)
    assert ex.ledger(order.allocation_id).long


def test_a_429_is_retried_after_a_backoff(standin, credentials):
    venue, sleeps = adapter(standin, credentials)
    standin.state.rate_limit_next = 2
    assert venue.submit(buy(live_executor())).status == "filled"
    assert len([s for s in sleeps if s > 0.01]) >= 2 and len(standin.state.posts) == 1


def test_an_open_order_is_polled_until_final_and_fills_are_paged(standin, credentials):
    venue, sleeps = adapter(standin, credentials)
    standin.state.open_polls = 3
    standin.state.fills_page = 1
    report = venue.submit(buy(live_executor()))
    assert report.status == "filled" and len(report.fills) == 2
    assert sleeps.count(0.01) >= 3


def test_a_restart_in_the_middle_of_an_order_books_it_once(standin, credentials):
    """The executor decided and died. Case 1: the order reached the venue first; case 2: it did not."""
    cfg = config(account("live", cash=10_000, mode="live", allocations=[allocation(fees=0.006)]))
    ex = Executor(cfg, live_accounts=["live"])
    order = buy(ex)
    saved = json.loads(json.dumps(ex.snapshot()))
    dying, _ = adapter(standin, credentials)
    dying._client.place_market_order(order.client_order_id, "BTC-USD", "BUY", quote_size="10000.00")
    del dying  # killed before it read the answer

    restarted = Executor.restore(cfg, saved, live_accounts=["live"])
    (pending,) = restarted.pending_orders()
    venue, _ = adapter(standin, credentials)
    (report,) = venue.reconcile([pending])
    assert report.status == "filled" and len(standin.state.posts) == 1
    restarted.on_venue_report(report)
    assert restarted.ledger(order.allocation_id).long and not restarted.pending_orders()
    assert venue.reconcile(restarted.pending_orders()) == []

    # Case 2: killed before posting; the restarted executor places it (once).
    (sell,) = restarted.on_signal(signal("SELL", 1, PRICE), close_of(1)).orders
    saved = json.loads(json.dumps(restarted.snapshot()))
    again = Executor.restore(cfg, saved, live_accounts=["live"])
    venue, _ = adapter(standin, credentials, clock=lambda: (close_of(1) + pd.Timedelta(seconds=5)).timestamp())
    (report,) = venue.reconcile(again.pending_orders())
    assert report.status == "filled" and len(standin.state.posts) == 2
    again.on_venue_report(report)
    assert not again.ledger(order.allocation_id).long


def test_an_old_order_that_never_reached_the_venue_is_cancelled(standin, credentials):
    ex = live_executor()
    order = buy(ex)  # created at close_of(0), long ago by the wall clock
    venue, _ = adapter(standin, credentials)
    (report,) = venue.reconcile([order])
    assert report.status == "cancelled" and not standin.state.posts
    assert [o.status for o in ex.on_venue_report(report).orders] == [pb.ORDER_STATUS_CANCELLED]
