"""Live orders through the stream, against the local stand-in of Coinbase's REST API.

The executor runs as deployed (``python -m streaming.execution --mode live --live-account live``,
its CDP key from the environment) and places the orders its signals decide at the stand-in:
a rejected order, a partial fill, a POST that times out (the order exists: looked up by its
client order id, never placed again), and a kill -9 while the venue holds the order and the
executor does not know yet (the restart reconciles and books it once). The stand-in counts
every POST by the JWTs it verified, so a second placement of any order would show.

The refusals of live mode without an allow-list, with an unknown account or without a key
need no broker: they are checked before the executor connects.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from streaming.execution.__main__ import main
from tests.execution.builders import signal
from tests.execution.stream_harness import (
    ExecutorProcess,
    Outputs,
    Publisher,
    private_settings,
    wait_for,
    write_accounts,
)
from tests.venues.coinbase.standin import CoinbaseStandIn
from tradestream.v1 import execution_pb2 as pb

KEY_NAME = "organizations/org-1/apiKeys/executor"
PRICE = 50_000.0
ACCOUNTS = [{"name": "live", "cash": 10_000, "mode": "live", "limits": {"max_signal_age_s": 3600},
             "allocations": [{"strategy": "DOUBLE_EMA_CROSSOVER", "pair": "BTC-USD", "timeframe": "1m",
                              "share": 1.0, "fees": 0.006}]}]


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def standin(key):
    server = CoinbaseStandIn(KEY_NAME, key.public_key(), {"BTC-USD": PRICE})
    yield server
    server.close()


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def _posts(standin: CoinbaseStandIn) -> int:
    """POST requests the stand-in authenticated (a repeated client order id would count again)."""
    return sum(1 for claims in standin.state.claims if claims["uri"].startswith("POST "))


def test_live_orders_are_rejected_partly_filled_found_after_a_timeout_and_reconciled_after_kill9(
        kafka, standin, key, tmp_path: Path, artifacts_dir):
    settings = private_settings(kafka)
    accounts = write_accounts(tmp_path / "accounts.yaml", ACCOUNTS)
    executor = ExecutorProcess(
        settings, accounts, artifacts_dir / f"execution-live-{settings.kafka.fills_topic}.log",
        args=("--mode", "live", "--live-account", "live"),
        env={"COINBASE_API_KEY": KEY_NAME, "COINBASE_API_SECRET": _pem(key),
             "TRADESTREAM_COINBASE_ORDERS_REST_URL": standin.base_url, "TRADESTREAM_COINBASE_ORDERS_TIMEOUT_S": "2",
             "TRADESTREAM_COINBASE_ORDER_POLL_INTERVAL_S": "0.05"})
    executor.start()
    outputs = Outputs(settings)
    publisher = Publisher(settings)
    t0 = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(minutes=8)
    offset = int((t0 - pd.Timestamp("2024-03-01", tz="UTC")) / pd.Timedelta(minutes=1))

    def decide(kind: str, minute: int) -> str:
        message = signal(kind, offset + minute, PRICE)
        publisher.signal(message)
        publisher.flush()
        wait_for(lambda: any(o.signal_id == message.signal_id for o in outputs.poll(0.1).orders), 60,
                 f"no order for the {kind} of minute {minute}; log {executor.log}", alive=executor)
        return next(o.client_order_id for o in outputs.orders if o.signal_id == message.signal_id)

    def final(cid: str) -> pb.Order:
        wait_for(lambda: any(o.client_order_id == cid and o.status != pb.ORDER_STATUS_PENDING
                             for o in outputs.poll(0.1).orders), 60, f"order {cid} never final; log {executor.log}",
                 alive=executor)
        return [o for o in outputs.orders if o.client_order_id == cid][-1]

    def units() -> float:
        return outputs.positions[-1].units if outputs.positions else 0.0

    try:
        # 1. rejected by the venue: a risk event, the ledger untouched
        standin.state.reject_next = "INSUFFICIENT_FUND"
        rejected = final(decide("BUY", 1))
        assert rejected.status == pb.ORDER_STATUS_REJECTED and "INSUFFICIENT_FUND" in rejected.detail
        assert any(e.reason == pb.RISK_REASON_VENUE_REJECTED for e in outputs.poll().risk_events)
        assert not outputs.fills

        # 2. half filled (IOC, the rest void); the next SELL sells what is held
        standin.state.partial_next = 0.5
        partial = final(decide("BUY", 2))
        assert partial.status == pb.ORDER_STATUS_PARTIALLY_FILLED
        bought = sum(f.size for f in outputs.poll().fills if f.client_order_id == partial.client_order_id)
        expected = 10_000 / (1 + 0.006) / PRICE * 0.5
        assert bought == pytest.approx(expected, rel=1e-6) and units() == pytest.approx(bought, rel=1e-12)
        sold = final(decide("SELL", 3))
        assert sold.status == pb.ORDER_STATUS_FILLED and sold.base_size == pytest.approx(bought, rel=1e-12)
        wait_for(lambda: units() == 0.0, 30, "still long after the SELL filled")

        # 3. the POST times out after the venue created the order: found by client order id, not placed again
        posts = _posts(standin)
        standin.state.delay_next_post_s = 3.0
        timed_out = final(decide("BUY", 4))
        assert timed_out.status == pb.ORDER_STATUS_FILLED and _posts(standin) == posts + 1
        assert "may exist" in executor.text()

        # 4. kill -9 while the venue holds the order and its answer is on the way
        posts = _posts(standin)
        standin.state.delay_next_post_s = 1.5
        cid = decide("SELL", 5)
        wait_for(lambda: cid in standin.state.by_client_id, 30, "the SELL never reached the venue")
        executor.kill9()
        assert not any(f.client_order_id == cid for f in outputs.poll().fills)
        executor.start()
        assert final(cid).status == pb.ORDER_STATUS_FILLED
        wait_for(lambda: units() == 0.0, 30, "still long after the reconciled SELL")
        assert _posts(standin) == posts + 1, "the restart must not place the order again"
        assert "reconciling 1 pending live order(s)" in executor.text()
    finally:
        code = executor.stop()
        outputs.close()
    assert code == 0
    fills = outputs.fills
    assert max(Counter(f.fill_id for f in fills).values()) == 1, "a venue fill booked twice"
    assert {f.fill_model for f in fills} == {pb.FILL_MODEL_VENUE}
    assert {o.mode for o in outputs.orders} == {pb.EXECUTION_MODE_LIVE}
    assert len(standin.state.orders) == 4  # the rejected one was never created
    secret = _pem(key).splitlines()[1]
    assert secret not in executor.text(), "the private key must never be logged"


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None, monkeypatch=None) -> int:
    accounts = write_accounts(tmp_path / "accounts.yaml", ACCOUNTS)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    return main(["--accounts", str(accounts), *args])


def test_live_mode_needs_an_allow_list(tmp_path, capsys, monkeypatch):
    assert _run(tmp_path, "--mode", "live", monkeypatch=monkeypatch) == 1
    assert "--live-account" in capsys.readouterr().err


def test_live_mode_refuses_an_account_not_in_the_file(tmp_path, capsys, monkeypatch):
    assert _run(tmp_path, "--mode", "live", "--live-account", "nobody", monkeypatch=monkeypatch) == 1
    assert "nobody" in capsys.readouterr().err


def test_an_allow_list_without_live_mode_is_refused(tmp_path, capsys, monkeypatch):
    assert _run(tmp_path, "--live-account", "live", monkeypatch=monkeypatch) == 1
    assert "--mode live" in capsys.readouterr().err


def test_live_mode_without_a_key_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COINBASE_API_KEY", raising=False)
    monkeypatch.delenv("COINBASE_API_SECRET", raising=False)
    code = _run(tmp_path, "--mode", "live", "--live-account", "live", monkeypatch=monkeypatch,
                env={"COINBASE_API_KEY_FILE": str(tmp_path / "missing.json")})
    assert code == 1
    err = capsys.readouterr().err
    assert "COINBASE_API_KEY" in err and "missing.json" in err
