"""How a backtest trades: cash, costs, fills, sizing and stops."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tradestream.backtest.errors import BacktestInputError

Fill = Literal["close", "next_open"]
FILLS: tuple[str, ...] = ("close", "next_open")

MAX_FEES = 0.1  # 10 % a side: anything above is a typo (0.1 % is written 0.001)
MAX_SLIPPAGE_BPS = 1000.0


@dataclass(frozen=True)
class BacktestConfig:
    """Trading assumptions of a backtest; validated on construction.

    ``fees`` is a fraction of traded value charged on each side (0.001 = 0.1 %).
    ``slippage_bps`` moves every fill against the trader (buys higher, sells lower).
    ``size`` is the fraction of the account's cash committed to each entry (1.0 = all in).
    Stops are fractions of the entry's market price: ``stop_loss=0.05`` exits 5 % below the
    entry, ``take_profit=0.1`` 10 % above, ``trailing_stop=0.03`` 3 % below the highest
    price since entry. None disables a stop.
    """

    cash: float = 10_000.0
    fees: float = 0.001
    slippage_bps: float = 0.0
    fill: Fill = "close"
    size: float = 1.0
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None

    def __post_init__(self) -> None:
        _finite("cash", self.cash)
        if self.cash <= 0:
            raise BacktestInputError(f"cash={self.cash!r} must be positive, e.g. 10000")
        _finite("fees", self.fees)
        if not 0 <= self.fees <= MAX_FEES:
            raise BacktestInputError(
                f"fees={self.fees!r} is outside [0, {MAX_FEES}]; fees are a fraction per side (0.001 = 0.1 %)")
        _finite("slippage_bps", self.slippage_bps)
        if not 0 <= self.slippage_bps <= MAX_SLIPPAGE_BPS:
            raise BacktestInputError(
                f"slippage_bps={self.slippage_bps!r} is outside [0, {MAX_SLIPPAGE_BPS:g}] basis points")
        if self.fill not in FILLS:
            raise BacktestInputError(f"fill={self.fill!r} must be one of {list(FILLS)}")
        _finite("size", self.size)
        if not 0 < self.size <= 1:
            raise BacktestInputError(
                f"size={self.size!r} is outside (0, 1]; it is the fraction of cash per entry (1 = all in)")
        for name, upper in (("stop_loss", 1.0), ("trailing_stop", 1.0), ("take_profit", math.inf)):
            value = getattr(self, name)
            if value is None:
                continue
            _finite(name, value)
            if not 0 < value < upper:
                bound = "(0, 1)" if upper == 1.0 else "(0, inf)"
                raise BacktestInputError(
                    f"{name}={value!r} is outside {bound}; it is a fraction of the entry price (0.05 = 5 %)")

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 10_000.0

    @property
    def has_stops(self) -> bool:
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing_stop))

    def kernel_args(self) -> tuple[float, float, float, float, bool, float, float, float]:
        """The positional trading arguments of the numba kernels (NaN disables a stop)."""
        nan = math.nan
        return (float(self.cash), float(self.fees), self.slippage, float(self.size), self.fill == "next_open",
                nan if self.stop_loss is None else float(self.stop_loss),
                nan if self.take_profit is None else float(self.take_profit),
                nan if self.trailing_stop is None else float(self.trailing_stop))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BacktestInputError(f"{name}={value!r} must be a finite number")
