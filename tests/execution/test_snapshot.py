"""Snapshot -> restore -> the same outputs: a restarted executor continues exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.execution.builders import account, allocation, close_of, config, halt, signal, trade
from tradestream.execution.executor import Executor, Outputs

A, B = "DOUBLE_EMA_CROSSOVER", "SMA_RSI"


def _inputs() -> list[tuple[str, object, object]]:
    """A mixed run: two accounts (one next_trade with latency), trades, signals, a halt, a resume."""
    steps: list[tuple[str, object, object]] = []
    rng = np.random.default_rng(3)
    price = 100.0
    for minute in range(40):
        for k in range(3):
            price *= float(np.exp(rng.normal(0, 0.004)))
            at = close_of(minute - 1) + np.timedelta64(300 * k + 100, "ms")
            steps.append(("trade", trade(price, at, f"t{minute}-{k}"), None))
        if minute % 4 == 0:
            kind = "BUY" if (minute // 4) % 2 == 0 else "SELL"
            for strategy in (A, B):
                steps.append(("signal", signal(kind, minute, price, strategy=strategy), close_of(minute)))
        if minute == 21:
            steps.append(("halt", halt("b", at=close_of(minute)), None))
        if minute == 29:
            steps.append(("halt", halt("b", halt_=False, at=close_of(minute), command_id="r"), None))
    return steps


def _config():
    return config(
        account("a", 5000, allocations=[allocation(A, share=0.5, fees=0.001, slippage_bps=3),
                                        allocation(B, share=0.5, size=0.5)],
                limits={"max_drawdown": 0.5, "daily_loss_limit": 0.3, "max_orders_per_minute": 10}),
        account("b", 3000, fill_model="next_trade", latency_ms=250,
                allocations=[allocation(A, share=0.7, fees=0.002, slippage_bps=5)]))


def _feed(ex: Executor, steps) -> list[bytes]:
    out = []
    for kind, message, now in steps:
        result: Outputs = (ex.on_trade(message) if kind == "trade" else ex.on_signal(message, now)
                           if kind == "signal" else ex.on_halt(message))
        for group in (result.orders, result.fills, result.positions, result.risk_events, result.accounts):
            out.extend(m.SerializeToString(deterministic=True) for m in group)
    return out


@pytest.mark.parametrize("cut", [1, 37, 58, 80, 101])
def test_snapshot_and_restore_continue_with_the_same_outputs(cut: int):
    steps = _inputs()
    whole = Executor(_config())
    expected = _feed(whole, steps)
    assert len(expected) > 100

    first = Executor(_config())
    produced = _feed(first, steps[:cut])
    saved = json.loads(json.dumps(first.snapshot()))  # what a compacted topic would hold
    restored = Executor.restore(_config(), saved)
    assert restored.snapshot() == first.snapshot()
    produced += _feed(restored, steps[cut:])
    assert produced == expected
    assert restored.snapshot() == whole.snapshot()


def test_the_same_inputs_give_the_same_outputs():
    steps = _inputs()
    assert _feed(Executor(_config()), steps) == _feed(Executor(_config()), steps)


def test_a_malformed_snapshot_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="format"):
        Executor.restore(_config(), {"format": "other"})
    snapshot = Executor(_config()).snapshot()
    del snapshot["ledgers"]
    with pytest.raises(ValueError, match="malformed"):
        Executor.restore(_config(), snapshot)


def test_reload_keeps_positions_and_an_allocation_that_returns_resumes():
    ex = Executor(_config())
    ex.on_signal(signal("BUY", 0, 100.0, strategy=A), close_of(0))
    alloc_a = next(a.id for a in ex.config.allocations() if a.account == "a" and a.entry.strategy == A)
    units = ex.ledger(alloc_a).units
    smaller = config(account("a", 5000, allocations=[allocation(B, share=0.5, size=0.5)]))
    report = ex.reload(smaller)
    assert alloc_a in report.removed and alloc_a in report.long_but_removed
    assert ex.account_state("a").equity == pytest.approx(5000, rel=0.01)  # the removed ledger still counts
    report = ex.reload(_config())
    assert alloc_a in report.added and ex.ledger(alloc_a).units == units
    assert len(ex.on_signal(signal("SELL", 4, 101.0, strategy=A), close_of(4)).fills) == 1
