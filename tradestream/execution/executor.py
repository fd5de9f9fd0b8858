"""The executor: a deterministic state machine from signals and trades to orders and fills.

Inputs (each call returns the ``Outputs`` to publish, in order):

* ``on_signal(Signal, now)``: a ``tradestream.v1.Signal`` from the ``signals`` topic and
  the executor's clock. For every allocation trading the signal's strategy entry it
  checks the signal, asks the risk engine, and places an order that fills at once
  (``candle_close``), waits for a trade (``next_trade``) or goes to the venue (live).
* ``on_trade(Trade)``: a ``tradestream.v1.Trade``: marks positions to market (equity,
  drawdown, daily loss), fills waiting ``next_trade`` orders.
* ``on_halt(HaltCommand)``: the kill switch, for one account or all.
* ``on_venue_report(VenueReport)``: live mode: what the venue says about an order
  (fills, final status), applied once however often it is reported.

Outputs are protobuf ``Order``, ``Fill``, ``PositionSnapshot``, ``RiskEvent`` and
``AccountState`` messages with deterministic ids. Bad input is rejected with a reason
(a ``RiskEvent`` of kind INPUT_REJECTED) and counted in ``counters``; nothing raises.

All state is plain values: ``snapshot()`` gives a JSON-ready dict and
``Executor.restore(config, snapshot)`` continues exactly where it was, so a restarted
stream keeps its positions, halts and pending orders. The same inputs in the same
order always give the same outputs: the executor reads no clock and draws no random
number (time comes in with the inputs).

One allocation's paper trades with ``candle_close`` fills are one backtest of its
strategy entry: long only, one position, and the money of each fill computed by
``tradestream.backtest.money``, the backtest kernel's own functions.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp

from tradestream.backtest.config import BacktestConfig
from tradestream.execution import fills as fill_models
from tradestream.execution.accounts import AccountConfig, AccountsConfig, Allocation
from tradestream.execution.ledger import Booked, Ledger
from tradestream.execution.risk import (
    DAY_NS,
    AccountRisk,
    Denial,
    OrderContext,
    StatusChange,
    check_order,
    mark_equity,
    record_order,
    resume,
)
from tradestream.ingest.validation import InvalidInput, parse_pair
from tradestream.params import params_from_proto, params_key, params_to_proto
from tradestream.timeframes import TIMEFRAME_NS
from tradestream.v1 import execution_pb2 as pb
from tradestream.v1 import market_pb2, strategy_pb2

SNAPSHOT_FORMAT = "tradestream.execution/1"
RECENT_SIGNAL_IDS = 256  # per allocation; older repeats are out of order anyway
NS_PER_S = 1_000_000_000
BUY, SELL = pb.ORDER_SIDE_BUY, pb.ORDER_SIDE_SELL
_SIDES = {strategy_pb2.SIGNAL_TYPE_BUY: BUY, strategy_pb2.SIGNAL_TYPE_SELL: SELL}
_FILL_MODELS = {fill_models.CANDLE_CLOSE: pb.FILL_MODEL_CANDLE_CLOSE, fill_models.NEXT_TRADE: pb.FILL_MODEL_NEXT_TRADE}
VENUE_FINAL = {"filled": pb.ORDER_STATUS_FILLED, "partially_filled": pb.ORDER_STATUS_PARTIALLY_FILLED,
               "cancelled": pb.ORDER_STATUS_CANCELLED, "rejected": pb.ORDER_STATUS_REJECTED}


@dataclass
class Outputs:
    """What one input produced, in the order it happened."""

    orders: list[pb.Order] = field(default_factory=list)
    fills: list[pb.Fill] = field(default_factory=list)
    positions: list[pb.PositionSnapshot] = field(default_factory=list)
    risk_events: list[pb.RiskEvent] = field(default_factory=list)
    accounts: list[pb.AccountState] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.orders or self.fills or self.positions or self.risk_events or self.accounts)

    def extend(self, other: Outputs) -> Outputs:
        for name in ("orders", "fills", "positions", "risk_events", "accounts"):
            getattr(self, name).extend(getattr(other, name))
        return self


@dataclass(frozen=True)
class VenueFill:
    trade_id: str
    price: float
    size: float
    fee: float
    time_ns: int


@dataclass(frozen=True)
class VenueReport:
    """The venue's word on one order: fills so far and, once final, its status.

    ``status`` is "open" (more may come) or one of "filled", "partially_filled",
    "cancelled", "rejected" (final). Fills are applied once each (by ``trade_id``).
    """

    client_order_id: str
    status: str
    fills: tuple[VenueFill, ...] = ()
    venue_order_id: str = ""
    detail: str = ""
    time_ns: int = 0


@dataclass(frozen=True)
class _Signal:
    message: strategy_pb2.Signal
    signal_id: str
    key: str  # the strategy entry key, STRATEGY{params}
    pair: str
    timeframe: str
    side: int
    price: float
    candle_ns: int

    @property
    def signal_ns(self) -> int:
        return fill_models.signal_time_ns(self.candle_ns, self.timeframe)


@dataclass
class _AllocationState:
    last_candle_ns: int | None = None
    recent_ids: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_SIGNAL_IDS))
    pending: pb.Order | None = None
    venue_trades: list[str] = field(default_factory=list)  # fills of the pending order already booked
    last_fill_id: str = ""


@dataclass
class ReloadReport:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    long_but_removed: list[str] = field(default_factory=list)  # positions no signal will close now


def stable_id(*parts: object) -> str:
    """32 hex characters of SHA-256 over the parts: the same inputs always give the same id."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def client_order_id(signal_id: str, allocation_id: str) -> str:
    """The order's id, also sent to the venue: a hash of the signal and the allocation."""
    return stable_id(signal_id, allocation_id)


def to_ns(value: datetime | pd.Timestamp | int) -> int:
    if isinstance(value, int):
        return value
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone; pass UTC")
    return int(stamp.value)


def _ts(ns: int) -> Timestamp:
    return Timestamp(seconds=ns // NS_PER_S, nanos=ns % NS_PER_S)


class Executor:
    """Paper (and live) trading of the accounts in ``config``. Not thread-safe: one per stream task."""

    def __init__(self, config: AccountsConfig, *, live_accounts: Iterable[str] = ()):
        self._live_allowed = frozenset(live_accounts)
        self._ledgers: dict[str, Ledger] = {}
        self._states: dict[str, _AllocationState] = {}
        self._risk: dict[str, AccountRisk] = {}
        self._halt_all = False
        self._marks: dict[str, tuple[float, int]] = {}  # pair -> (price, event time ns)
        self._clock_ns = 0
        self._tape = fill_models.TradeTape(int(config.trade_buffer_s * NS_PER_S))
        self.counters: Counter[str] = Counter()
        self._apply(config)

    # ------------------------------------------------------------------ configuration
    def _apply(self, config: AccountsConfig) -> None:
        self._config = config
        self._accounts: dict[str, AccountConfig] = {a.name: a for a in config.accounts}
        self._allocations: dict[str, Allocation] = {a.id: a for a in config.allocations()}
        self._trading: dict[str, BacktestConfig] = {i: a.backtest_config() for i, a in self._allocations.items()}
        self._routes: dict[tuple[str, str, str], list[Allocation]] = {}
        self._by_pair: dict[str, list[Allocation]] = {}
        for alloc in self._allocations.values():
            self._routes.setdefault((alloc.entry.key, alloc.pair, alloc.timeframe), []).append(alloc)
            self._by_pair.setdefault(alloc.pair, []).append(alloc)
            self._ledgers.setdefault(alloc.id, Ledger.fresh(alloc.account, alloc.pair, alloc.cash))
            self._states.setdefault(alloc.id, _AllocationState())
        self._entry_keys = {a.entry.key for a in self._allocations.values()}
        self._tape_pairs = {a.pair for a in self._allocations.values()
                            if a.fill_model == fill_models.NEXT_TRADE and not self._is_live(a.account)}
        self._tape.retention_ns = int(config.trade_buffer_s * NS_PER_S)
        for account in config.accounts:
            self._risk.setdefault(account.name, AccountRisk(account.name, peak_equity=account.cash))

    def reload(self, config: AccountsConfig) -> ReloadReport:
        """Switch to a new config. Ledgers, positions and halts survive; an allocation that
        comes back resumes its own ledger. A kept allocation keeps its cash (a changed
        share applies to allocations added from now on); fees, slippage, sizing and
        limits take effect at once."""
        old = set(self._allocations)
        self._apply(config)
        new = set(self._allocations)
        report = ReloadReport(added=sorted(new - old), removed=sorted(old - new), kept=sorted(old & new))
        report.long_but_removed = sorted(i for i in old - new if self._ledgers[i].long)
        return report

    @property
    def config(self) -> AccountsConfig:
        return self._config

    def _is_live(self, account: str) -> bool:
        cfg = self._accounts.get(account)
        return cfg is not None and cfg.mode == "live" and account in self._live_allowed

    # ------------------------------------------------------------------ inputs
    def on_signal(self, signal: strategy_pb2.Signal, now: datetime | pd.Timestamp | int) -> Outputs:
        """Orders for one signal from the ``signals`` topic; ``now`` is the executor's clock."""
        out = Outputs()
        now_ns = to_ns(now)
        self._tick(now_ns, out)
        self.counters["signals"] += 1
        parsed = _parse_signal(signal)
        if not isinstance(parsed, _Signal):
            reason, detail = parsed
            self._reject(out, reason, detail, signal_id=getattr(signal, "signal_id", ""),
                         pair=getattr(signal, "currency_pair", ""))
            return out
        allocations = self._routes.get((parsed.key, parsed.pair, parsed.timeframe))
        if not allocations:
            if parsed.key in self._entry_keys:
                where = sorted({f"{a.pair} {a.timeframe}" for a in self._allocations.values()
                                if a.entry.key == parsed.key})
                self._reject(out, pb.RISK_REASON_UNKNOWN_PAIR, f"{parsed.key} is allocated on {where}, not on "
                             f"{parsed.pair} {parsed.timeframe}", signal_id=parsed.signal_id, pair=parsed.pair)
            else:
                self._reject(out, pb.RISK_REASON_UNKNOWN_STRATEGY, f"no account allocates {parsed.key}",
                             signal_id=parsed.signal_id, pair=parsed.pair)
            return out
        self._set_mark(parsed.pair, parsed.price, parsed.signal_ns)
        for alloc in allocations:
            self._signal_for(alloc, parsed, now_ns, out)
        return out

    def on_trade(self, trade: market_pb2.Trade) -> Outputs:
        """Mark to market and fill waiting next_trade orders with one trade from ``trades``."""
        out = Outputs()
        self.counters["trades"] += 1
        if (not isinstance(trade, market_pb2.Trade) or not trade.currency_pair or not trade.HasField("event_time")
                or not math.isfinite(trade.price) or trade.price <= 0):
            # Market data, not an instruction: counted, no risk event (ingestion dead-letters bad trades).
            self.counters["trades_rejected"] += 1
            return out
        pair, price = trade.currency_pair, trade.price
        time_ns = trade.event_time.seconds * NS_PER_S + trade.event_time.nanos
        self._tick(time_ns, out)
        self._set_mark(pair, price, time_ns)
        if pair in self._tape_pairs:
            self._tape.add(pair, time_ns, price, trade.trade_id)
        touched: set[str] = set()
        for alloc in self._by_pair.get(pair, ()):
            state = self._states[alloc.id]
            order = state.pending
            if (order is not None and order.fill_model == pb.FILL_MODEL_NEXT_TRADE
                    and order.not_before.seconds * NS_PER_S + order.not_before.nanos <= time_ns):
                state.pending = None
                self._fill(alloc, order, fill_models.MarketFill(price, time_ns, trade.trade_id), out)
                touched.add(alloc.account)
            elif self._ledgers[alloc.id].long:
                touched.add(alloc.account)
        for account in sorted(touched):
            self._mark_account(account, out, publish=False)
        return out

    def on_halt(self, command: pb.HaltCommand) -> Outputs:
        """The kill switch: halt or resume one account (``command.account``) or all (empty)."""
        out = Outputs()
        if not isinstance(command, pb.HaltCommand):
            self._reject(out, pb.RISK_REASON_MALFORMED, f"expected a tradestream.v1.HaltCommand, got "
                         f"{type(command).__name__}")
            return out
        time_ns = command.requested_at.seconds * NS_PER_S + command.requested_at.nanos
        self._tick(time_ns, out)
        self.counters["halt_commands"] += 1
        name = command.account
        if name and name not in self._risk:
            self._reject(out, pb.RISK_REASON_UNKNOWN_ACCOUNT, f"no account named {name!r} (accounts: "
                         f"{sorted(self._risk)})", event_key=command.command_id)
            return out
        targets = [name] if name else sorted(self._risk)
        scope = f"account {name}" if name else "all accounts"
        kind = pb.RISK_EVENT_KIND_HALTED if command.halt else pb.RISK_EVENT_KIND_RESUMED
        if command.halt:
            if name:
                self._risk[name].halted = True
            else:
                self._halt_all = True
            for account in targets:
                self._cancel_paper_orders(account, f"halted: {command.reason or 'kill switch'}", out)
        else:
            if not name:
                self._halt_all = False
            for account in targets:
                change = resume(self._risk[account], self._equity(account), self._clock_ns)
                if change:
                    self._status_event(account, change, out)
        for account in targets:
            status = self._risk[account].status
            self._event(out, kind, pb.RISK_REASON_KILL_SWITCH if command.halt else pb.RISK_REASON_OPERATOR,
                        f"{'halt' if command.halt else 'resume'} of {scope} by {command.requested_by or 'unknown'}: "
                        f"{command.reason or 'no reason given'}"
                        + ("; the halt of all accounts is still on" if not command.halt and self._halt_all else ""),
                        account=account, status=status, previous=status, event_key=command.command_id)
            out.accounts.append(self.account_state(account))
        return out

    def on_venue_report(self, report: VenueReport) -> Outputs:
        """Live mode: book the venue's fills of a pending order (each once) and its final status."""
        out = Outputs()
        if report.time_ns:
            self._tick(report.time_ns, out)
        found = next(((a, s) for i, s in self._states.items() if s.pending is not None
                      and s.pending.client_order_id == report.client_order_id
                      for a in [self._allocations.get(i)] if a is not None), None)
        if found is None:
            self.counters["venue_reports_unmatched"] += 1
            return out
        alloc, state = found
        order = state.pending
        assert order is not None
        if report.venue_order_id:
            order.venue_order_id = report.venue_order_id
        ledger = self._ledgers[alloc.id]
        for venue_fill in report.fills:
            if venue_fill.trade_id in state.venue_trades or venue_fill.size <= 0:
                continue
            state.venue_trades.append(venue_fill.trade_id)
            if order.side == BUY:
                booked = ledger.venue_buy(venue_fill.price, venue_fill.size, venue_fill.fee)
            else:
                booked = ledger.venue_sell(venue_fill.price, venue_fill.size, venue_fill.fee)
            market = fill_models.MarketFill(venue_fill.price, venue_fill.time_ns, venue_fill.trade_id)
            self._publish_fill(alloc, order, booked, market, stable_id(order.client_order_id, venue_fill.trade_id),
                               pb.FILL_MODEL_VENUE, out)
        final = VENUE_FINAL.get(report.status)
        if final == pb.ORDER_STATUS_FILLED and order.side == SELL and ledger.write_off_dust():
            out.positions.append(self._position(alloc, report.time_ns or self._clock_ns))
        if final is not None:
            state.pending, state.venue_trades = None, []
            order.status = final
            order.detail = report.detail
            order.updated_at.CopyFrom(_ts(report.time_ns or self._clock_ns))
            out.orders.append(order)
            if final == pb.ORDER_STATUS_REJECTED:
                self._event(out, pb.RISK_EVENT_KIND_ORDER_DENIED, pb.RISK_REASON_VENUE_REJECTED,
                            f"the venue rejected the order: {report.detail}", account=alloc.account,
                            allocation=alloc.id, signal_id=order.signal_id, pair=alloc.pair,
                            client_order=order.client_order_id)
        self._mark_account(alloc.account, out, publish=bool(out.fills))
        return out

    # ------------------------------------------------------------------ views
    def pending_orders(self) -> list[pb.Order]:
        """Orders waiting for a trade (next_trade) or for the venue (live)."""
        return [_copy(s.pending) for s in self._states.values() if s.pending is not None]

    def positions(self) -> list[pb.PositionSnapshot]:
        return [self._position(a) for a in self._allocations.values()]

    def account_state(self, name: str) -> pb.AccountState:
        risk = self._risk[name]
        cfg = self._accounts.get(name)
        exposure, open_positions = self._exposure(name)
        return pb.AccountState(account=name, status=risk.status, status_reason=risk.status_reason,
                               halted=risk.halted or self._halt_all, equity=self._equity(name),
                               peak_equity=risk.peak_equity, day_start_equity=risk.day_start_equity,
                               gross_exposure=exposure, open_positions=open_positions,
                               starting_cash=cfg.cash if cfg else 0.0, as_of=_ts(self._clock_ns))

    def ledger(self, allocation_id: str) -> Ledger:
        return self._ledgers[allocation_id]

    # ------------------------------------------------------------------ one allocation
    def _signal_for(self, alloc: Allocation, signal: _Signal, now_ns: int, out: Outputs) -> None:
        state = self._states[alloc.id]
        ledger = self._ledgers[alloc.id]
        ids = dict(account=alloc.account, allocation=alloc.id, signal_id=signal.signal_id, pair=signal.pair)
        if signal.signal_id in state.recent_ids:
            self._deny(out, Denial(pb.RISK_REASON_DUPLICATE_SIGNAL,
                                   f"signal {signal.signal_id} was already handled for this allocation"), **ids)
            return
        if state.last_candle_ns is not None and signal.candle_ns <= state.last_candle_ns:
            older = signal.candle_ns < state.last_candle_ns
            self._reject(out, pb.RISK_REASON_OUT_OF_ORDER if older else pb.RISK_REASON_REVISED_CANDLE,
                         f"signal for the candle at {_iso(signal.candle_ns)} "
                         + ("is older than" if older else "comes after another signal for")
                         + f" the candle at {_iso(state.last_candle_ns)}, already acted on", **ids)
            return
        state.recent_ids.append(signal.signal_id)
        state.last_candle_ns = signal.candle_ns

        pending = state.pending
        if pending is not None and pending.fill_model == pb.FILL_MODEL_VENUE:
            self._reject(out, pb.RISK_REASON_ORDER_PENDING, f"order {pending.client_order_id} is still at the venue; "
                         "a signal cannot be acted on before its outcome is known", **ids)
            return
        if pending is not None:
            if pending.side != signal.side:
                state.pending = None
                self._cancel(pending, f"superseded by signal {signal.signal_id} before any fill", out)
                return
        long_after_pending = ledger.long if pending is None else pending.side == BUY
        if signal.side == BUY and long_after_pending:
            self._reject(out, pb.RISK_REASON_BUY_WITH_POSITION, "BUY while the allocation is already long "
                         f"({ledger.units:g} units{' and a pending order' if pending is not None else ''})", **ids)
            return
        if signal.side == SELL and not long_after_pending:
            self._reject(out, pb.RISK_REASON_SELL_WITHOUT_POSITION, "SELL while the allocation is flat", **ids)
            return

        account = self._accounts[alloc.account]
        risk = self._risk[alloc.account]
        denial = check_order(account.limits, risk, self._halt_all, self._order_context(alloc, signal, now_ns))
        if denial is not None:
            self._deny(out, denial, **ids)
            return
        record_order(risk, now_ns)
        self.counters["orders"] += 1
        order = self._new_order(alloc, signal, now_ns)
        if order.fill_model == pb.FILL_MODEL_VENUE:
            state.pending = order
            out.orders.append(_copy(order))
        elif order.fill_model == pb.FILL_MODEL_CANDLE_CLOSE:
            self._fill(alloc, order, fill_models.candle_close_fill(signal.price, signal.candle_ns,
                                                                  signal.timeframe), out)
        else:
            not_before = order.not_before.seconds * NS_PER_S + order.not_before.nanos
            market = self._tape.first_at_or_after(alloc.pair, not_before)
            if market is not None:
                self._fill(alloc, order, market, out)
            else:
                state.pending = order
                out.orders.append(_copy(order))

    def _order_context(self, alloc: Allocation, signal: _Signal, now_ns: int) -> OrderContext:
        ledger = self._ledgers[alloc.id]
        trading = self._trading[alloc.id]
        is_entry = signal.side == BUY
        notional = ledger.order_notional(trading.size) if is_entry else ledger.units * self._mark(alloc.pair)
        pair_exposure = gross = 0.0
        open_positions = 0
        for other in self._account_allocations(alloc.account):
            value = self._ledgers[other.id].units * self._mark(other.pair)
            gross += value
            if other.pair == alloc.pair:
                pair_exposure += value
            if self._ledgers[other.id].long or (self._states[other.id].pending is not None
                                                and self._states[other.id].pending.side == BUY):
                open_positions += 1
        return OrderContext(is_entry=is_entry, now_ns=now_ns, signal_age_s=(now_ns - signal.signal_ns) / NS_PER_S,
                            notional=notional, pair_exposure_after=pair_exposure + (notional if is_entry else 0.0),
                            gross_exposure_after=gross + (notional if is_entry else 0.0),
                            open_positions_after=open_positions + (1 if is_entry else 0))

    def _new_order(self, alloc: Allocation, signal: _Signal, now_ns: int) -> pb.Order:
        ledger = self._ledgers[alloc.id]
        live = self._is_live(alloc.account)
        model = pb.FILL_MODEL_VENUE if live else _FILL_MODELS[alloc.fill_model]
        order = pb.Order(
            client_order_id=client_order_id(signal.signal_id, alloc.id), account=alloc.account,
            allocation_id=alloc.id, signal_id=signal.signal_id, strategy=signal.message.strategy,
            currency_pair=alloc.pair, timeframe=alloc.timeframe, side=signal.side, status=pb.ORDER_STATUS_PENDING,
            fill_model=model, mode=pb.EXECUTION_MODE_LIVE if live else pb.EXECUTION_MODE_PAPER,
            reference_price=signal.price, candle_time=signal.message.candle_time, signal_time=_ts(signal.signal_ns),
            created_at=_ts(now_ns), updated_at=_ts(now_ns))
        if signal.side == BUY:
            order.quote_size = ledger.order_notional(self._trading[alloc.id].size)
        else:
            order.base_size = ledger.units
        if model == pb.FILL_MODEL_NEXT_TRADE:
            order.not_before.CopyFrom(_ts(fill_models.next_trade_not_before(signal.candle_ns, signal.timeframe,
                                                                             alloc.latency_ns)))
        return order

    def _fill(self, alloc: Allocation, order: pb.Order, market: fill_models.MarketFill, out: Outputs) -> None:
        ledger = self._ledgers[alloc.id]
        trading = self._trading[alloc.id]
        if order.side == BUY:
            booked = ledger.paper_buy(market.price, trading.fees, trading.slippage, trading.size)
        else:
            booked = ledger.paper_sell(market.price, trading.fees, trading.slippage)
        order.status = pb.ORDER_STATUS_FILLED
        order.updated_at.CopyFrom(_ts(market.time_ns))
        out.orders.append(_copy(order))
        self._publish_fill(alloc, order, booked, market, stable_id(order.client_order_id, "fill"), order.fill_model,
                           out)
        self._mark_account(alloc.account, out, publish=True)

    def _publish_fill(self, alloc: Allocation, order: pb.Order, booked: Booked, market: fill_models.MarketFill,
                      fill_id: str, model: int, out: Outputs) -> None:
        self.counters["fills"] += 1
        out.fills.append(pb.Fill(
            fill_id=fill_id, client_order_id=order.client_order_id, account=alloc.account, allocation_id=alloc.id,
            signal_id=order.signal_id, currency_pair=alloc.pair, side=order.side, price=booked.price,
            market_price=market.price, size=booked.size, fee=booked.fee, quote_amount=booked.quote_amount,
            realized_pnl=booked.realized_pnl, fill_model=model, fill_time=_ts(market.time_ns),
            candle_time=order.candle_time, trade_id=market.trade_id, timeframe=alloc.timeframe,
            strategy=order.strategy))
        self._states[alloc.id].last_fill_id = fill_id
        out.positions.append(self._position(alloc, market.time_ns))

    def _cancel(self, order: pb.Order, detail: str, out: Outputs) -> None:
        order.status = pb.ORDER_STATUS_CANCELLED
        order.detail = detail
        order.updated_at.CopyFrom(_ts(self._clock_ns))
        self.counters["orders_cancelled"] += 1
        out.orders.append(_copy(order))

    def _cancel_paper_orders(self, account: str, detail: str, out: Outputs) -> None:
        for alloc in self._account_allocations(account):
            state = self._states[alloc.id]
            if state.pending is not None and state.pending.fill_model != pb.FILL_MODEL_VENUE:
                order, state.pending = state.pending, None
                self._cancel(order, detail, out)

    # ------------------------------------------------------------------ accounts
    def _account_allocations(self, account: str) -> list[Allocation]:
        return [a for a in self._allocations.values() if a.account == account]

    def _equity(self, account: str) -> float:
        """Cash no ledger holds plus every ledger's equity (removed allocations' ledgers included:
        their money is still the account's)."""
        cfg = self._accounts.get(account)
        total = cfg.cash if cfg else 0.0
        for ledger in self._ledgers.values():
            if ledger.account == account:
                total += ledger.equity(self._mark(ledger.pair)) - ledger.starting_cash
        return total

    def _exposure(self, account: str) -> tuple[float, int]:
        gross, count = 0.0, 0
        for alloc in self._account_allocations(account):
            ledger = self._ledgers[alloc.id]
            if ledger.long:
                gross += abs(ledger.units * self._mark(alloc.pair))
                count += 1
        return gross, count

    def _mark_account(self, account: str, out: Outputs, *, publish: bool) -> None:
        cfg = self._accounts.get(account)
        if cfg is None:
            return
        changes = mark_equity(cfg.limits, self._risk[account], self._equity(account), self._clock_ns)
        for change in changes:
            self._status_event(account, change, out)
        if publish or changes:
            out.accounts.append(self.account_state(account))

    def _status_event(self, account: str, change: StatusChange, out: Outputs) -> None:
        self.counters[f"status:{pb.AccountStatus.Name(change.status)}"] += 1
        self._event(out, pb.RISK_EVENT_KIND_STATUS_CHANGED, change.reason, change.detail, account=account,
                    value=change.value, limit=change.limit, status=change.status, previous=change.previous)

    def _tick(self, time_ns: int, out: Outputs) -> None:
        """Advance the clock; at a UTC midnight every account's daily loss base starts over."""
        previous = self._clock_ns
        self._clock_ns = max(previous, time_ns)
        if previous and self._clock_ns // DAY_NS > previous // DAY_NS:
            for account in sorted(self._accounts):
                self._mark_account(account, out, publish=True)

    def _set_mark(self, pair: str, price: float, time_ns: int) -> None:
        current = self._marks.get(pair)
        if current is None or time_ns >= current[1]:
            self._marks[pair] = (price, time_ns)

    def _mark(self, pair: str) -> float:
        mark = self._marks.get(pair)
        return mark[0] if mark else 0.0

    def _position(self, alloc: Allocation, time_ns: int | None = None) -> pb.PositionSnapshot:
        ledger = self._ledgers[alloc.id]
        mark = self._mark(alloc.pair)
        return pb.PositionSnapshot(
            account=alloc.account, allocation_id=alloc.id,
            strategy=params_to_proto(alloc.entry.strategy, alloc.entry.params), currency_pair=alloc.pair,
            timeframe=alloc.timeframe, units=ledger.units, cash=ledger.cash, entry_price=ledger.entry_price,
            committed=ledger.committed, entry_fees=ledger.entry_fees, mark_price=mark, equity=ledger.equity(mark),
            realized_pnl=ledger.realized_pnl, closed_trades=ledger.closed_trades,
            as_of=_ts(self._clock_ns if time_ns is None else time_ns),
            last_fill_id=self._states[alloc.id].last_fill_id, starting_cash=ledger.starting_cash)

    # ------------------------------------------------------------------ events
    def _deny(self, out: Outputs, denial: Denial, *, account: str, allocation: str, signal_id: str,
              pair: str) -> None:
        self.counters[f"denied:{pb.RiskReason.Name(denial.reason)}"] += 1
        status = self._risk[account].status
        self._event(out, pb.RISK_EVENT_KIND_ORDER_DENIED, denial.reason, denial.detail, account=account,
                    allocation=allocation, signal_id=signal_id, pair=pair, value=denial.value, limit=denial.limit,
                    status=status, previous=status,
                    client_order=client_order_id(signal_id, allocation) if signal_id else "")

    def _reject(self, out: Outputs, reason: int, detail: str, *, account: str = "", allocation: str = "",
                signal_id: str = "", pair: str = "", event_key: str = "") -> None:
        self.counters[f"rejected:{pb.RiskReason.Name(reason)}"] += 1
        status = self._risk[account].status if account in self._risk else pb.ACCOUNT_STATUS_UNSPECIFIED
        self._event(out, pb.RISK_EVENT_KIND_INPUT_REJECTED, reason, detail, account=account, allocation=allocation,
                    signal_id=signal_id, pair=pair, status=status, previous=status, event_key=event_key)

    def _event(self, out: Outputs, kind: int, reason: int, detail: str, *, account: str = "", allocation: str = "",
               signal_id: str = "", pair: str = "", value: float = 0.0, limit: float = 0.0,
               status: int = pb.ACCOUNT_STATUS_UNSPECIFIED, previous: int = pb.ACCOUNT_STATUS_UNSPECIFIED,
               client_order: str = "", event_key: str = "") -> None:
        event_id = stable_id(kind, reason, account, allocation, signal_id, event_key,
                             "" if signal_id or event_key else self._clock_ns)
        out.risk_events.append(pb.RiskEvent(
            event_id=event_id, kind=kind, reason=reason, account=account, allocation_id=allocation,
            signal_id=signal_id, currency_pair=pair, detail=detail, value=value, limit=limit, status=status,
            previous_status=previous, event_time=_ts(self._clock_ns), client_order_id=client_order))

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready values (floats round-trip exactly through JSON)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "clock_ns": self._clock_ns,
            "halt_all": self._halt_all,
            "marks": {pair: [price, t] for pair, (price, t) in sorted(self._marks.items())},
            "ledgers": {i: ledger.as_dict() for i, ledger in sorted(self._ledgers.items())},
            "allocations": {i: {"last_candle_ns": s.last_candle_ns, "recent_ids": list(s.recent_ids),
                                "pending": None if s.pending is None
                                else base64.b64encode(s.pending.SerializeToString()).decode(),
                                "venue_trades": list(s.venue_trades), "last_fill_id": s.last_fill_id}
                            for i, s in sorted(self._states.items())},
            "accounts": {name: risk.as_dict() for name, risk in sorted(self._risk.items())},
            "tape": self._tape.export(),
            "counters": dict(sorted(self.counters.items())),
        }

    @classmethod
    def restore(cls, config: AccountsConfig, snapshot: Mapping[str, Any], *,
                live_accounts: Iterable[str] = ()) -> Executor:
        """An executor for ``config`` continuing from ``snapshot``; ValueError names what is malformed."""
        if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
            found = snapshot.get("format") if isinstance(snapshot, Mapping) else type(snapshot).__name__
            raise ValueError(f"execution snapshot must have format={SNAPSHOT_FORMAT!r}, got {found!r}")
        executor = cls(config, live_accounts=live_accounts)
        try:
            executor._clock_ns = int(snapshot["clock_ns"])
            executor._halt_all = bool(snapshot["halt_all"])
            executor._marks = {p: (float(v[0]), int(v[1])) for p, v in snapshot["marks"].items()}
            for i, data in snapshot["ledgers"].items():
                executor._ledgers[i] = Ledger.from_dict(data)
            for i, data in snapshot["allocations"].items():
                state = _AllocationState(
                    last_candle_ns=None if data["last_candle_ns"] is None else int(data["last_candle_ns"]),
                    pending=None if data["pending"] is None
                    else pb.Order.FromString(base64.b64decode(data["pending"])),
                    venue_trades=[str(t) for t in data["venue_trades"]], last_fill_id=str(data["last_fill_id"]))
                state.recent_ids.extend(str(s) for s in data["recent_ids"])
                executor._states[i] = state
            for name, data in snapshot["accounts"].items():
                executor._risk[name] = AccountRisk.from_dict(data)
            executor._tape.load(snapshot["tape"])
            executor.counters = Counter({str(k): int(v) for k, v in snapshot["counters"].items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"execution snapshot is malformed: {exc!r}") from None
        return executor


def _parse_signal(message: object) -> _Signal | tuple[int, str]:
    """The signal's fields, checked; or (reason, detail) saying what is wrong with it."""
    if not isinstance(message, strategy_pb2.Signal):
        return pb.RISK_REASON_MALFORMED, f"expected a tradestream.v1.Signal, got {type(message).__name__}"
    side = _SIDES.get(message.type)
    if side is None:
        return pb.RISK_REASON_MALFORMED, f"signal type {message.type} is neither BUY nor SELL"
    if not message.signal_id:
        return pb.RISK_REASON_MALFORMED, "signal has no signal_id"
    if not message.strategy.strategy:
        return pb.RISK_REASON_MALFORMED, "signal names no strategy"
    try:
        pair = parse_pair(message.currency_pair, None, field="currency_pair")
    except InvalidInput as exc:
        return pb.RISK_REASON_UNKNOWN_PAIR, exc.detail
    if message.timeframe not in TIMEFRAME_NS:
        return pb.RISK_REASON_MALFORMED, f"timeframe {message.timeframe!r} is not one of {list(TIMEFRAME_NS)}"
    if not message.HasField("candle_time"):
        return pb.RISK_REASON_MALFORMED, "signal has no candle_time"
    if not math.isfinite(message.price) or message.price <= 0:
        return pb.RISK_REASON_INVALID_PRICE, f"price={message.price!r} must be a positive finite number"
    params = params_from_proto(message.strategy)
    if any(v is None for v in params.values()):
        return pb.RISK_REASON_MALFORMED, f"a parameter of {message.strategy.strategy} has no value: {params}"
    candle_ns = message.candle_time.seconds * NS_PER_S + message.candle_time.nanos
    return _Signal(message=message, signal_id=message.signal_id,
                   key=f"{message.strategy.strategy}{params_key(params)}", pair=pair, timeframe=message.timeframe,
                   side=side, price=message.price, candle_ns=candle_ns)


def _copy(order: pb.Order) -> pb.Order:
    copy = pb.Order()
    copy.CopyFrom(order)
    return copy


def _iso(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()
