"""One allocation's money: its cash and its one long position.

Paper fills go through ``tradestream.backtest.money``, the functions the backtest kernel
calls for the same decisions, and the ledger keeps exactly the kernel's variables
(``cash``, ``units``, ``committed``, ``entry_fees``, ``entry_price``) so a paper round
trip and a backtest round trip are the same arithmetic on the same numbers.

Venue fills (live mode) can be partial and carry the venue's own price and fee; they
are booked with plain cash accounting: a buy adds units and spends ``size * price + fee``;
a sell of part of the units realizes that part of the committed cash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tradestream.backtest.money import close_position, open_position

# Below this many units a position left by venue fills (rounding to the venue's
# increments) counts as closed.
DUST_UNITS = 1e-12


@dataclass(frozen=True)
class Booked:
    """The money of one fill as booked."""

    price: float  # fill price, slippage included
    size: float  # base units
    fee: float
    quote_amount: float  # BUY: cash spent, fee included; SELL: proceeds after the fee
    realized_pnl: float  # SELL: proceeds less the committed cash of the units sold


@dataclass
class Ledger:
    account: str
    pair: str
    starting_cash: float
    cash: float
    units: float = 0.0
    committed: float = 0.0
    entry_fees: float = 0.0
    entry_price: float = 0.0
    realized_pnl: float = 0.0
    closed_trades: int = 0

    @classmethod
    def fresh(cls, account: str, pair: str, cash: float) -> Ledger:
        return cls(account=account, pair=pair, starting_cash=cash, cash=cash)

    @property
    def long(self) -> bool:
        return self.units > 0.0

    def equity(self, mark: float) -> float:
        return self.cash + self.units * mark if self.units > 0.0 else self.cash

    def order_notional(self, size_fraction: float) -> float:
        """Cash a BUY would commit now (the backtester's sizing: a fraction of the cash)."""
        return self.cash if size_fraction >= 1.0 else self.cash * size_fraction

    def paper_buy(self, market: float, fees: float, slippage: float, size_fraction: float) -> Booked:
        units, remaining, committed, entry_fees, fill = open_position(market, self.cash, fees, slippage, size_fraction)
        self.units, self.cash, self.committed, self.entry_fees, self.entry_price = (
            units, remaining, committed, entry_fees, fill)
        return Booked(price=fill, size=units, fee=entry_fees, quote_amount=committed, realized_pnl=0.0)

    def paper_sell(self, market: float, fees: float, slippage: float) -> Booked:
        units = self.units
        fill, exit_fees, proceeds, pnl = close_position(units, market, self.committed, fees, slippage)
        self.cash = self.cash + proceeds
        self.realized_pnl += pnl
        self.closed_trades += 1
        self._flat()
        return Booked(price=fill, size=units, fee=exit_fees, quote_amount=proceeds, realized_pnl=pnl)

    def venue_buy(self, price: float, size: float, fee: float) -> Booked:
        spent = size * price + fee
        held = self.units
        self.units = held + size
        self.entry_price = (held * self.entry_price + size * price) / self.units if self.units > 0 else price
        self.cash -= spent
        self.committed += spent
        self.entry_fees += fee
        return Booked(price=price, size=size, fee=fee, quote_amount=spent, realized_pnl=0.0)

    def venue_sell(self, price: float, size: float, fee: float) -> Booked:
        size = min(size, self.units)
        proceeds = size * price - fee
        share = size / self.units if self.units > 0 else 1.0
        released = self.committed * share
        pnl = proceeds - released
        self.cash += proceeds
        self.realized_pnl += pnl
        self.units -= size
        self.committed -= released
        self.entry_fees -= self.entry_fees * share
        if self.units <= DUST_UNITS:
            self.closed_trades += 1
            self._flat()
        return Booked(price=price, size=size, fee=fee, quote_amount=proceeds, realized_pnl=pnl)

    def write_off_dust(self) -> float:
        """Close what a completed venue SELL left (units under the venue's size increment, which
        cannot be sold): its committed cash is lost to the round trip. Returns the units written off."""
        dust = self.units
        if dust > 0.0:
            self.realized_pnl -= self.committed
            self.closed_trades += 1
            self._flat()
        return dust

    def _flat(self) -> None:
        self.units = self.committed = self.entry_fees = self.entry_price = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Ledger:
        return cls(account=str(data["account"]), pair=str(data["pair"]), starting_cash=float(data["starting_cash"]),
                   cash=float(data["cash"]), units=float(data["units"]), committed=float(data["committed"]),
                   entry_fees=float(data["entry_fees"]), entry_price=float(data["entry_price"]),
                   realized_pnl=float(data["realized_pnl"]), closed_trades=int(data["closed_trades"]))
