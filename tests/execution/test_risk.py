"""Every risk reason code, tripped with thresholds worked out by hand.

Fees and slippage are 0 unless a test says otherwise, so a BUY of all the cash C at
price P holds C / P units and the position is worth units * mark.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.execution.builders import T0, account, allocation, close_of, config, executor, halt, signal, trade
from tradestream.execution.executor import Executor, Outputs, VenueFill, VenueReport
from tradestream.v1 import execution_pb2 as pb
from tradestream.v1 import strategy_pb2

A, B, C = "DOUBLE_EMA_CROSSOVER", "SMA_RSI", "MACD_CROSSOVER"
TRIPPED: dict[int, str] = {}


def events(out: Outputs, reason: int) -> list[pb.RiskEvent]:
    found = [e for e in out.risk_events if e.reason == reason]
    if found:
        TRIPPED[reason] = found[0].detail
    return found


def only_denial(out: Outputs, reason: int) -> pb.RiskEvent:
    (event,) = out.risk_events
    assert event.reason == reason, event
    assert not out.orders and not out.fills
    events(out, reason)
    return event


# ---------------------------------------------------------------------------- pre-trade limits
def test_max_order_notional_refuses_a_buy_committing_more_than_the_limit():
    """Cash 1000, size 0.5: the BUY commits 500. A limit of 499 refuses it; 500 lets it through."""
    refused = executor(account(cash=1000, limits={"max_order_notional": 499},
                               allocations=[allocation(size=0.5)]))
    event = only_denial(refused.on_signal(signal("BUY", 0, 100.0), close_of(0)), pb.RISK_REASON_MAX_ORDER_NOTIONAL)
    assert (event.value, event.limit, event.kind) == (500.0, 499.0, pb.RISK_EVENT_KIND_ORDER_DENIED)
    allowed = executor(account(cash=1000, limits={"max_order_notional": 500}, allocations=[allocation(size=0.5)]))
    assert len(allowed.on_signal(signal("BUY", 0, 100.0), close_of(0)).fills) == 1


def test_max_position_notional_counts_every_allocation_on_the_pair():
    """Two allocations of 1000 on BTC-USD. A buys 10 units at 100 (exposure 1000); B's BUY of
    1000 more would make 2000 > 1500."""
    ex = executor(account(cash=2000, limits={"max_position_notional": 1500},
                          allocations=[allocation(A, share=0.5), allocation(B, share=0.5)]))
    assert len(ex.on_signal(signal("BUY", 0, 100.0, strategy=A), close_of(0)).fills) == 1
    event = only_denial(ex.on_signal(signal("BUY", 1, 100.0, strategy=B), close_of(1)),
                        pb.RISK_REASON_MAX_POSITION_NOTIONAL)
    assert (event.value, event.limit) == (2000.0, 1500.0)


def test_max_gross_exposure_counts_every_pair():
    """A holds 10 BTC at 100 (1000); B's BUY of 1000 in ETH makes the gross 2000 > 1500."""
    ex = executor(account(cash=2000, limits={"max_gross_exposure": 1500, "max_position_notional": 1500},
                          allocations=[allocation(A, share=0.5), allocation(B, pair="ETH-USD", share=0.5)]))
    ex.on_signal(signal("BUY", 0, 100.0, strategy=A), close_of(0))
    event = only_denial(ex.on_signal(signal("BUY", 1, 50.0, strategy=B, pair="ETH-USD"), close_of(1)),
                        pb.RISK_REASON_MAX_GROSS_EXPOSURE)
    assert (event.value, event.limit) == (2000.0, 1500.0)


def test_max_open_positions():
    """One position allowed: A is long, so B's entry would be the second."""
    ex = executor(account(cash=2000, limits={"max_open_positions": 1},
                          allocations=[allocation(A, share=0.5), allocation(B, share=0.5)]))
    ex.on_signal(signal("BUY", 0, 100.0, strategy=A), close_of(0))
    event = only_denial(ex.on_signal(signal("BUY", 1, 100.0, strategy=B), close_of(1)),
                        pb.RISK_REASON_MAX_OPEN_POSITIONS)
    assert (event.value, event.limit) == (2.0, 1.0)


def test_exits_pass_the_notional_limits():
    """A position opened under the limits still closes after the limits tightened to nothing."""
    ex = executor(account(cash=1000, allocations=[allocation()]))
    ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    ex.reload(config(account(cash=1000, limits={"max_order_notional": 1, "max_position_notional": 1,
                                                 "max_gross_exposure": 1, "max_open_positions": 0})))
    assert len(ex.on_signal(signal("SELL", 1, 100.0), close_of(1)).fills) == 1


def test_stale_signal():
    """max_signal_age_s 30: acted on 31 s after its candle closed, the signal is 31 s old."""
    ex = executor(account(limits={"max_signal_age_s": 30}))
    late = close_of(0) + np.timedelta64(31, "s")
    event = only_denial(ex.on_signal(signal("BUY", 0, 100.0), late), pb.RISK_REASON_STALE_SIGNAL)
    assert (event.value, event.limit) == (31.0, 30.0)
    assert len(ex.on_signal(signal("BUY", 1, 100.0), close_of(1) + np.timedelta64(30, "s")).fills) == 1


def test_duplicate_signal_id_never_doubles_an_order():
    ex = executor(account())
    first = ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    again = ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    revised = ex.on_signal(signal("BUY", 0, 101.0), close_of(0))  # a revised candle: same id, new price
    assert len(first.orders) == 1
    only_denial(again, pb.RISK_REASON_DUPLICATE_SIGNAL)
    only_denial(revised, pb.RISK_REASON_DUPLICATE_SIGNAL)
    assert ex.positions()[0].units == pytest.approx(10.0)


def test_order_rate_limit():
    """Two orders a minute: three allocations buying on the same candle, the third is refused."""
    ex = executor(account(cash=3000, limits={"max_orders_per_minute": 2},
                          allocations=[allocation(s, share=1 / 3) for s in (A, B, C)]))
    for s in (A, B):
        assert len(ex.on_signal(signal("BUY", 0, 100.0, strategy=s), close_of(0)).fills) == 1
    event = only_denial(ex.on_signal(signal("BUY", 0, 100.0, strategy=C), close_of(0)),
                        pb.RISK_REASON_ORDER_RATE_LIMIT)
    assert (event.value, event.limit) == (3.0, 2.0)
    # 60 s after the first two, the window is empty again.
    assert len(ex.on_signal(signal("SELL", 1, 100.0, strategy=A), close_of(1)).fills) == 1


# ---------------------------------------------------------------------------- account status
def test_daily_loss_limit_moves_the_account_to_reducing_until_the_next_utc_day():
    """Cash 2000 over two allocations; A buys 10 units at 100. BTC trades at 89: equity
    1000 + 10 * 89 = 1890, a loss of 110 / 2000 = 5.5 % >= 5 %: REDUCING. B may not enter,
    A may still exit. At the next UTC midnight the limit starts over: ACTIVE."""
    ex = executor(account(cash=2000, limits={"daily_loss_limit": 0.05},
                           allocations=[allocation(A, share=0.5), allocation(B, pair="ETH-USD", share=0.5)]))
    ex.on_signal(signal("BUY", 0, 100.0, strategy=A), close_of(0))
    assert not ex.on_trade(trade(90.5, close_of(1), "t1")).risk_events  # 1905: 4.75 % < 5 %
    out = ex.on_trade(trade(89.0, close_of(2), "t2"))
    (change,) = events(out, pb.RISK_REASON_DAILY_LOSS_LIMIT)
    assert change.kind == pb.RISK_EVENT_KIND_STATUS_CHANGED
    assert (change.previous_status, change.status) == (pb.ACCOUNT_STATUS_ACTIVE, pb.ACCOUNT_STATUS_REDUCING)
    assert change.value == pytest.approx(0.055) and change.limit == 0.05
    denied = only_denial(ex.on_signal(signal("BUY", 3, 50.0, strategy=B, pair="ETH-USD"), close_of(3)),
                         pb.RISK_REASON_DAILY_LOSS_LIMIT)
    assert denied.kind == pb.RISK_EVENT_KIND_ORDER_DENIED
    assert len(ex.on_signal(signal("SELL", 3, 89.0, strategy=A), close_of(3)).fills) == 1
    next_day = ex.on_trade(trade(89.0, T0 + np.timedelta64(1, "D"), "t3"))
    (back,) = [e for e in next_day.risk_events if e.kind == pb.RISK_EVENT_KIND_STATUS_CHANGED]
    assert back.status == pb.ACCOUNT_STATUS_ACTIVE


def test_max_drawdown_halts_the_account_until_a_resume():
    """Buy 10 at 100 (cash 1000). BTC at 120: equity 1200, the peak. At 108.1 the drawdown is
    1 - 1081/1200 = 9.92 %; at 107.9 it is 1 - 1079/1200 = 10.08 % >= 10 %: HALTED, so even
    the exit is refused. A resume lifts it and restarts the peak at 1079."""
    ex = executor(account(cash=1000, limits={"max_drawdown": 0.10}))
    ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    assert not ex.on_trade(trade(120.0, close_of(1), "t1")).risk_events
    assert not ex.on_trade(trade(108.1, close_of(1), "t2")).risk_events  # 9.9 %
    out = ex.on_trade(trade(107.9, close_of(1), "t3"))
    (change,) = events(out, pb.RISK_REASON_MAX_DRAWDOWN)
    assert change.status == pb.ACCOUNT_STATUS_HALTED and change.value == pytest.approx(1 - 1079 / 1200)
    only_denial(ex.on_signal(signal("SELL", 2, 107.9), close_of(2)), pb.RISK_REASON_MAX_DRAWDOWN)
    resumed = ex.on_halt(halt("a", halt_=False, at=close_of(3), command_id="r1"))
    assert events(resumed, pb.RISK_REASON_OPERATOR)
    assert ex.account_state("a").status == pb.ACCOUNT_STATUS_ACTIVE
    assert ex.account_state("a").peak_equity == pytest.approx(1079.0)
    assert len(ex.on_signal(signal("SELL", 4, 107.9), close_of(4)).fills) == 1


def test_kill_switch_per_account_and_for_all():
    """Halt a: a's entry is refused, b's goes. Halt all: b's exit is refused too. Resume all: a trades."""
    ex = executor(account("a"), account("b"))
    out = ex.on_halt(halt("a", at=close_of(0)))
    assert [e.kind for e in out.risk_events] == [pb.RISK_EVENT_KIND_HALTED]
    assert [s.halted for s in out.accounts] == [True]
    out = ex.on_signal(signal("BUY", 1, 100.0), close_of(1))
    (event,) = events(out, pb.RISK_REASON_KILL_SWITCH)
    assert event.account == "a" and "account a" in event.detail
    assert [f.account for f in out.fills] == ["b"]
    ex.on_halt(halt("", at=close_of(2), command_id="c2"))
    out = ex.on_signal(signal("SELL", 3, 100.0), close_of(3))
    (event,) = events(out, pb.RISK_REASON_KILL_SWITCH)
    assert event.account == "b" and "all accounts" in event.detail and not out.fills
    ex.on_halt(halt("", halt_=False, at=close_of(4), command_id="c3"))
    assert [f.account for f in ex.on_signal(signal("BUY", 5, 100.0), close_of(5)).fills] == ["a"]


def test_a_halt_cancels_orders_waiting_for_a_trade():
    ex = executor(account(fill_model="next_trade", latency_ms=1000))
    pending = ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    assert [o.status for o in pending.orders] == [pb.ORDER_STATUS_PENDING]
    out = ex.on_halt(halt("a", at=close_of(0)))
    assert [o.status for o in out.orders] == [pb.ORDER_STATUS_CANCELLED]
    assert not ex.on_trade(trade(100.0, close_of(1), "t1")).fills


# ---------------------------------------------------------------------------- bad input
def _bad(**changes) -> strategy_pb2.Signal:
    message = signal("BUY", 0, 100.0)
    for name, value in changes.items():
        if name == "strategy":
            message.strategy.strategy = value
        elif value is None:
            message.ClearField(name)
        else:
            setattr(message, name, value)
    return message


@pytest.mark.parametrize(("message", "reason"), [
    (_bad(price=math.nan), pb.RISK_REASON_INVALID_PRICE),
    (_bad(price=math.inf), pb.RISK_REASON_INVALID_PRICE),
    (_bad(price=0.0), pb.RISK_REASON_INVALID_PRICE),
    (_bad(price=-5.0), pb.RISK_REASON_INVALID_PRICE),
    (_bad(strategy="NO_SUCH_STRATEGY"), pb.RISK_REASON_UNKNOWN_STRATEGY),
    (signal("BUY", 0, 100.0, params={"short_period": 5}), pb.RISK_REASON_UNKNOWN_STRATEGY),
    (signal("BUY", 0, 100.0, pair="DOGE-USD"), pb.RISK_REASON_UNKNOWN_PAIR),
    (_bad(currency_pair="btc/usd"), pb.RISK_REASON_UNKNOWN_PAIR),
    (_bad(timeframe="7m"), pb.RISK_REASON_MALFORMED),
    (_bad(signal_id=""), pb.RISK_REASON_MALFORMED),
    (_bad(candle_time=None), pb.RISK_REASON_MALFORMED),
    (_bad(type=strategy_pb2.SIGNAL_TYPE_UNSPECIFIED), pb.RISK_REASON_MALFORMED),
    (b"not a message", pb.RISK_REASON_MALFORMED),
], ids=lambda v: v if isinstance(v, int) else "")
def test_bad_signals_are_rejected_with_a_reason_and_counted(message, reason):
    ex = executor(account())
    out = ex.on_signal(message, close_of(0))
    (event,) = events(out, reason)
    assert event.kind == pb.RISK_EVENT_KIND_INPUT_REJECTED and event.detail
    assert not out.orders
    assert ex.counters[f"rejected:{pb.RiskReason.Name(reason)}"] == 1


def test_bad_trades_and_commands_are_counted_not_raised():
    ex = executor(account(fill_model="next_trade"))
    ex.on_signal(signal("BUY", 0, 100.0), close_of(0))
    for bad in (trade(math.nan, close_of(1), "n"), trade(-1.0, close_of(1), "m"), b"junk", None):
        assert not ex.on_trade(bad)
    no_time = trade(100.0, close_of(1), "x")
    no_time.ClearField("event_time")
    assert not ex.on_trade(no_time)
    assert ex.counters["trades_rejected"] == 5 and ex.pending_orders()
    (event,) = ex.on_halt("halt everything").risk_events
    assert event.reason == pb.RISK_REASON_MALFORMED
    assert len(ex.on_trade(trade(100.0, close_of(1), "ok")).fills) == 1


def test_sell_without_and_buy_with_a_position():
    ex = executor(account())
    only_denial(ex.on_signal(signal("SELL", 0, 100.0), close_of(0)), pb.RISK_REASON_SELL_WITHOUT_POSITION)
    ex.on_signal(signal("BUY", 1, 100.0), close_of(1))
    only_denial(ex.on_signal(signal("BUY", 2, 100.0), close_of(2)), pb.RISK_REASON_BUY_WITH_POSITION)


def test_out_of_order_and_revised_candles():
    ex = executor(account())
    ex.on_signal(signal("BUY", 5, 100.0), close_of(5))
    only_denial(ex.on_signal(signal("SELL", 4, 100.0), close_of(5)), pb.RISK_REASON_OUT_OF_ORDER)
    # The candle at minute 5 is revised and now says SELL: it already signalled, nothing more.
    only_denial(ex.on_signal(signal("SELL", 5, 99.0), close_of(5)), pb.RISK_REASON_REVISED_CANDLE)
    assert ex.positions()[0].units == pytest.approx(10.0)


def test_unknown_account_in_a_halt():
    ex = executor(account("a"))
    out = ex.on_halt(halt("nobody"))
    (event,) = events(out, pb.RISK_REASON_UNKNOWN_ACCOUNT)
    assert "nobody" in event.detail and not ex.account_state("a").halted


def test_live_orders_wait_for_the_venue_and_its_rejections_are_risk_events():
    cfg = config(account("live1", cash=1000, mode="live"))
    ex = Executor(cfg, live_accounts=["live1"])
    (order,) = ex.on_signal(signal("BUY", 0, 100.0), close_of(0)).orders
    assert (order.status, order.fill_model, order.mode) == (pb.ORDER_STATUS_PENDING, pb.FILL_MODEL_VENUE,
                                                            pb.EXECUTION_MODE_LIVE)
    assert order.quote_size == 1000.0
    only_denial(ex.on_signal(signal("SELL", 1, 100.0), close_of(1)), pb.RISK_REASON_ORDER_PENDING)
    out = ex.on_venue_report(VenueReport(order.client_order_id, "rejected", detail="INSUFFICIENT_FUND"))
    (event,) = events(out, pb.RISK_REASON_VENUE_REJECTED)
    assert event.client_order_id == order.client_order_id
    assert [o.status for o in out.orders] == [pb.ORDER_STATUS_REJECTED]


def test_live_mode_needs_the_allow_list():
    cfg = config(account("live1", cash=1000, mode="live"))
    (order,) = Executor(cfg).on_signal(signal("BUY", 0, 100.0), close_of(0)).orders
    assert order.mode == pb.EXECUTION_MODE_PAPER and order.status == pb.ORDER_STATUS_FILLED


def test_partial_venue_fills_are_booked_once_each():
    """A BUY of 1000 quote filled 4 units at 100 (fee 2), then 5 more at 101 (fee 2.5), reported
    twice: 9 units, cash 1000 - 402 - 507.5 = 90.5."""
    ex = Executor(config(account("live1", cash=1000, mode="live")), live_accounts=["live1"])
    (order,) = ex.on_signal(signal("BUY", 0, 100.0), close_of(0)).orders
    first = VenueFill("x1", 100.0, 4.0, 2.0, 1)
    ex.on_venue_report(VenueReport(order.client_order_id, "open", (first,)))
    out = ex.on_venue_report(VenueReport(order.client_order_id, "partially_filled",
                                         (first, VenueFill("x2", 101.0, 5.0, 2.5, 2))))
    assert [f.trade_id for f in out.fills] == ["x2"]
    ledger = ex.ledger(order.allocation_id)
    assert (ledger.units, ledger.cash) == (9.0, pytest.approx(90.5))
    assert [o.status for o in out.orders] == [pb.ORDER_STATUS_PARTIALLY_FILLED]
    assert not ex.on_venue_report(VenueReport(order.client_order_id, "filled", (first,)))


def test_every_reason_code_is_tripped_by_these_tests():
    """Runs last in this module: each RiskReason except UNSPECIFIED was seen in a test above."""
    expected = {v for v in pb.RiskReason.values() if v != pb.RISK_REASON_UNSPECIFIED}
    missing = sorted(pb.RiskReason.Name(r) for r in expected - set(TRIPPED))
    assert not missing, f"no test trips {missing}"
