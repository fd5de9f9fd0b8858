"""The pre-trade risk engine: every order passes ``check_order`` first.

Rules, in the order they are checked (the first that fails denies the order, and the
denial carries that rule's reason code, the measured value and the limit):

1. kill switch: a halt for the account, or for all accounts, is in force (KILL_SWITCH);
2. the account's status: HALTED denies everything, REDUCING denies entries; the reason
   is what moved it there (DAILY_LOSS_LIMIT or MAX_DRAWDOWN);
3. stale signal: older than ``max_signal_age_s`` from its candle's close (STALE_SIGNAL);
4. order rate: ``max_orders_per_minute`` orders of the account in the last 60 s (ORDER_RATE_LIMIT);
5. entries only: ``max_order_notional`` (the cash the BUY commits), ``max_position_notional``
   (the account's exposure to the pair after the order), ``max_gross_exposure`` (all its
   positions after the order), ``max_open_positions`` (allocations long, this one
   included).

Exits are never refused for notional or position limits: they reduce risk, and a refused
exit would leave a position nobody closes. Duplicate signals are refused before all
this (``executor``), since they concern the signal, not the account.

The status moves with the account's equity, marked to market on every trade and fill:
a loss of ``daily_loss_limit`` of the UTC day's starting equity moves it to
``on_daily_loss`` (REDUCING by default) until the next UTC day; a drawdown of
``max_drawdown`` below the peak equity moves it to ``on_max_drawdown`` (HALTED by
default) until a person resumes it. Status only escalates by itself; a resume
(``HaltCommand`` with halt=false) returns the account to ACTIVE and restarts the peak and
the day's base from the current equity.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from tradestream.execution.accounts import Breach, RiskLimits
from tradestream.v1 import execution_pb2 as pb

ACTIVE = pb.ACCOUNT_STATUS_ACTIVE
REDUCING = pb.ACCOUNT_STATUS_REDUCING
HALTED = pb.ACCOUNT_STATUS_HALTED
DAY_NS = 86_400 * 1_000_000_000
RATE_WINDOW_NS = 60 * 1_000_000_000
_SEVERITY = {ACTIVE: 0, REDUCING: 1, HALTED: 2}
_BREACH_STATUS: dict[str, int] = {"reducing": REDUCING, "halted": HALTED}


@dataclass(frozen=True)
class Denial:
    reason: int  # RiskReason
    detail: str
    value: float = 0.0
    limit: float = 0.0


@dataclass(frozen=True)
class StatusChange:
    previous: int
    status: int
    reason: int
    detail: str
    value: float = 0.0
    limit: float = 0.0


@dataclass
class AccountRisk:
    """The risk state of one account: a plain value, exported and restored exactly."""

    name: str
    peak_equity: float
    status: int = ACTIVE
    status_reason: int = pb.RISK_REASON_UNSPECIFIED
    halted: bool = False  # the kill switch for this account
    day: int | None = None  # UTC day number (ns // DAY_NS) of day_start_equity
    day_start_equity: float = 0.0
    order_times: deque[int] = field(default_factory=deque)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "peak_equity": self.peak_equity, "status": self.status,
                "status_reason": self.status_reason, "halted": self.halted, "day": self.day,
                "day_start_equity": self.day_start_equity, "order_times": list(self.order_times)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AccountRisk:
        return cls(name=str(data["name"]), peak_equity=float(data["peak_equity"]), status=int(data["status"]),
                   status_reason=int(data["status_reason"]), halted=bool(data["halted"]),
                   day=None if data["day"] is None else int(data["day"]),
                   day_start_equity=float(data["day_start_equity"]),
                   order_times=deque(int(t) for t in data["order_times"]))


@dataclass(frozen=True)
class OrderContext:
    """What the rules need to know about one proposed order."""

    is_entry: bool
    now_ns: int
    signal_age_s: float
    notional: float  # BUY: cash committed; SELL: the position's value at the mark
    pair_exposure_after: float
    gross_exposure_after: float
    open_positions_after: int


def check_order(limits: RiskLimits, risk: AccountRisk, halt_all: bool, order: OrderContext) -> Denial | None:
    """The first rule the order breaks, or None when it may go."""
    if halt_all or risk.halted:
        scope = "all accounts" if halt_all else f"account {risk.name}"
        return Denial(pb.RISK_REASON_KILL_SWITCH, f"the kill switch is on for {scope}; "
                      "`tradestream risk resume` lifts it")
    if risk.status == HALTED:
        return Denial(risk.status_reason, f"account {risk.name} is HALTED ({pb.RiskReason.Name(risk.status_reason)}); "
                      "a resume lifts it")
    if risk.status == REDUCING and order.is_entry:
        return Denial(risk.status_reason, f"account {risk.name} is REDUCING "
                      f"({pb.RiskReason.Name(risk.status_reason)}): exits only")
    if limits.max_signal_age_s is not None and order.signal_age_s > limits.max_signal_age_s:
        return Denial(pb.RISK_REASON_STALE_SIGNAL, f"signal is {order.signal_age_s:.3f} s old (from its candle's "
                      f"close); max_signal_age_s={limits.max_signal_age_s:g}",
                      order.signal_age_s, limits.max_signal_age_s)
    if limits.max_orders_per_minute is not None:
        recent = sum(1 for t in risk.order_times if t > order.now_ns - RATE_WINDOW_NS)
        if recent >= limits.max_orders_per_minute:
            return Denial(pb.RISK_REASON_ORDER_RATE_LIMIT, f"{recent} orders in the last 60 s; "
                          f"max_orders_per_minute={limits.max_orders_per_minute}",
                          float(recent + 1), float(limits.max_orders_per_minute))
    if not order.is_entry:
        return None
    if limits.max_order_notional is not None and order.notional > limits.max_order_notional:
        return Denial(pb.RISK_REASON_MAX_ORDER_NOTIONAL, f"order notional {order.notional:.2f} > "
                      f"max_order_notional={limits.max_order_notional:g}",
                      order.notional, limits.max_order_notional)
    if limits.max_position_notional is not None and order.pair_exposure_after > limits.max_position_notional:
        return Denial(pb.RISK_REASON_MAX_POSITION_NOTIONAL, f"exposure to the pair would be "
                      f"{order.pair_exposure_after:.2f} > max_position_notional={limits.max_position_notional:g}",
                      order.pair_exposure_after, limits.max_position_notional)
    if limits.max_gross_exposure is not None and order.gross_exposure_after > limits.max_gross_exposure:
        return Denial(pb.RISK_REASON_MAX_GROSS_EXPOSURE, f"gross exposure would be {order.gross_exposure_after:.2f} "
                      f"> max_gross_exposure={limits.max_gross_exposure:g}",
                      order.gross_exposure_after, limits.max_gross_exposure)
    if limits.max_open_positions is not None and order.open_positions_after > limits.max_open_positions:
        return Denial(pb.RISK_REASON_MAX_OPEN_POSITIONS, f"{order.open_positions_after} open positions "
                      f"> max_open_positions={limits.max_open_positions}",
                      float(order.open_positions_after), float(limits.max_open_positions))
    return None


def record_order(risk: AccountRisk, now_ns: int) -> None:
    """Count an accepted order for the rate rule (keeping only the last 60 s)."""
    risk.order_times.append(now_ns)
    while risk.order_times and risk.order_times[0] <= now_ns - RATE_WINDOW_NS:
        risk.order_times.popleft()


def mark_equity(limits: RiskLimits, risk: AccountRisk, equity: float, clock_ns: int) -> list[StatusChange]:
    """Update the day's base, the peak and the status from the account's equity now."""
    changes: list[StatusChange] = []
    day = clock_ns // DAY_NS
    if risk.day is None or day > risk.day:
        new_day = risk.day is not None
        risk.day, risk.day_start_equity = day, equity
        if new_day and risk.status != ACTIVE and risk.status_reason == pb.RISK_REASON_DAILY_LOSS_LIMIT:
            changes.append(_move(risk, ACTIVE, pb.RISK_REASON_DAILY_LOSS_LIMIT,
                                 "a new UTC day: the daily loss limit starts over"))
    risk.peak_equity = max(risk.peak_equity, equity)
    rules = ((limits.max_drawdown, risk.peak_equity, limits.on_max_drawdown, pb.RISK_REASON_MAX_DRAWDOWN,
              "drawdown", "peak equity", "max_drawdown"),
             (limits.daily_loss_limit, risk.day_start_equity, limits.on_daily_loss, pb.RISK_REASON_DAILY_LOSS_LIMIT,
              "loss", "the day's starting equity", "daily_loss_limit"))
    for limit, base, breach, reason, what, of, key in rules:
        if limit is None or base <= 0:
            continue
        fall = 1.0 - equity / base
        if fall >= limit:
            change = _escalate(risk, breach, reason, f"{what} {fall:.6f} of {of} {base:.2f} reached {key}={limit:g}",
                               fall, limit)
            if change:
                changes.append(change)
    return changes


def resume(risk: AccountRisk, equity: float, clock_ns: int) -> StatusChange | None:
    """A person lifted the halt: ACTIVE again, peak and day base restart from ``equity``."""
    risk.halted = False
    risk.peak_equity = equity
    risk.day, risk.day_start_equity = clock_ns // DAY_NS, equity
    if risk.status == ACTIVE:
        return None
    return _move(risk, ACTIVE, pb.RISK_REASON_OPERATOR, "resumed by an operator")


def _escalate(risk: AccountRisk, breach: Breach, reason: int, detail: str, value: float,
              limit: float) -> StatusChange | None:
    status = _BREACH_STATUS[breach]
    if _SEVERITY[status] <= _SEVERITY[risk.status]:
        return None
    return _move(risk, status, reason, detail, value, limit)


def _move(risk: AccountRisk, status: int, reason: int, detail: str, value: float = 0.0,
          limit: float = 0.0) -> StatusChange:
    previous = risk.status
    risk.status = status
    risk.status_reason = pb.RISK_REASON_UNSPECIFIED if status == ACTIVE else reason
    return StatusChange(previous, status, reason, detail, value, limit)
