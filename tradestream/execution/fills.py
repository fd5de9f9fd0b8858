"""Fill models: at which market price and time a paper order fills.

* ``candle_close``: the signal's price (its candle's close) at the signal time (the
  candle's end). This is the backtester's fill, so the allocation equals its backtest.
* ``next_trade``: the first trade of the pair, in the order the ``trades`` topic holds
  them, whose event time is at or after the signal time plus the account's latency.

The allocation's slippage is applied to either market price by the shared money math
(``tradestream.backtest.money``), not here.

Signals and trades come from two topics and arrive interleaved in no fixed order, so a
``next_trade`` order may be decided after its fill trade went by. ``TradeTape`` keeps the
last ``retention`` of trades per pair (by event time) for that: the order looks back in
the tape first and only then waits for new trades. Either way it fills at the same trade,
which keeps the result independent of how the two topics interleave (as long as a
signal is not later than the retention).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from tradestream.timeframes import parse_timeframe

CANDLE_CLOSE = "candle_close"
NEXT_TRADE = "next_trade"
VENUE = "venue"


@dataclass(frozen=True)
class MarketFill:
    """The market price an order fills at (before slippage), when, and from which trade."""

    price: float
    time_ns: int
    trade_id: str = ""


def signal_time_ns(candle_time_ns: int, timeframe: str) -> int:
    """When a signal can first be known: the close (end) of its candle."""
    return candle_time_ns + parse_timeframe(timeframe).ns


def candle_close_fill(price: float, candle_time_ns: int, timeframe: str) -> MarketFill:
    return MarketFill(price, signal_time_ns(candle_time_ns, timeframe))


def next_trade_not_before(candle_time_ns: int, timeframe: str, latency_ns: int) -> int:
    """Trades earlier than this cannot fill a next_trade order of that signal."""
    return signal_time_ns(candle_time_ns, timeframe) + latency_ns


class TradeTape:
    """Recent trades per pair in arrival order, kept for ``retention_ns`` of event time."""

    def __init__(self, retention_ns: int):
        self.retention_ns = retention_ns
        self._trades: dict[str, deque[tuple[int, float, str]]] = {}
        self._newest: dict[str, int] = {}

    def add(self, pair: str, time_ns: int, price: float, trade_id: str) -> None:
        tape = self._trades.setdefault(pair, deque())
        tape.append((time_ns, price, trade_id))
        newest = max(self._newest.get(pair, time_ns), time_ns)
        self._newest[pair] = newest
        horizon = newest - self.retention_ns
        while tape and tape[0][0] < horizon:
            tape.popleft()

    def first_at_or_after(self, pair: str, not_before_ns: int) -> MarketFill | None:
        """The first trade (in arrival order) at or after ``not_before_ns``, if the tape holds one."""
        for time_ns, price, trade_id in self._trades.get(pair, ()):
            if time_ns >= not_before_ns:
                return MarketFill(price, time_ns, trade_id)
        return None

    def pairs(self) -> Iterable[str]:
        return self._trades.keys()

    def export(self) -> dict[str, list[list[object]]]:
        return {pair: [[t, p, i] for t, p, i in tape] for pair, tape in self._trades.items()}

    def load(self, data: dict[str, list[list[object]]]) -> None:
        self._trades = {pair: deque((int(t), float(p), str(i)) for t, p, i in rows) for pair, rows in data.items()}
        self._newest = {pair: max((t for t, _, _ in tape), default=0) for pair, tape in self._trades.items()}
