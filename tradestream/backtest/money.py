"""The money math of one long-only position: the backtester's and the executor's, defined once.

A backtest bar (``_kernels.simulate_long_only``) and a paper fill of the order executor
(``tradestream.execution``) both call these two functions, so one allocation's paper
trades are one backtest by construction: same fee, slippage and sizing rules.

* **Entry**: the fill is ``market * (1 + slippage)``. ``size_fraction`` of the cash is
  committed (all of it at 1.0); fees come out of the committed amount, so
  ``committed / (1 + fees)`` buys units and the rest is the fee (vectorbt's rule: an
  all-in buy leaves exactly zero cash).
* **Exit**: everything is sold at ``market * (1 - slippage)``; the fee is a fraction of
  the value sold; the round trip's pnl is the proceeds less the committed amount.

``slippage`` is a fraction (``slippage_bps / 10_000``). The functions are numba-compiled
so the kernels inline them; plain Python calls them at dispatch cost (microseconds).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def open_position(market: float, cash: float, fees: float, slippage: float, size_fraction: float):
    """(units, cash left, committed, entry fees, fill price) of a buy with ``size_fraction`` of ``cash``."""
    fill = market * (1.0 + slippage)
    committed = cash if size_fraction >= 1.0 else cash * size_fraction
    spend = committed / (1.0 + fees)
    units = spend / fill
    remaining = 0.0 if size_fraction >= 1.0 else cash - committed
    return units, remaining, committed, committed - spend, fill


@njit(cache=True)
def close_position(units: float, market: float, committed: float, fees: float, slippage: float):
    """(fill price, exit fees, proceeds, pnl) of selling all ``units``; proceeds go back to the cash."""
    fill = market * (1.0 - slippage)
    value = units * fill
    exit_fees = value * fees
    proceeds = value - exit_fees
    return fill, exit_fees, proceeds, proceeds - committed


@njit(cache=True)
def trade_return(pnl: float, units: float, entry_price: float) -> float:
    """The return on the position, as vectorbt defines it: pnl / (units * entry fill price)."""
    return pnl / (units * entry_price)
