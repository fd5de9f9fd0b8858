"""Parity cases for vectorbt, generated from a seed: OHLC bars with gaps and signals.

Each case is plain data (arrays and settings) that both engines read: the project's
engine in the test process, vectorbt in its own venv (``vectorbt_runner.py``). Kinds:

* ``parity``: the engines must agree on every trade and every metric both compute;
* ``difference``: a documented, deliberate difference (docs/backtesting.md); the test
  pins how the two results relate.

Signals given to vectorbt in ``parity`` cases never hold an entry and an exit on one
bar (vectorbt's default ignores both; TradeStream decides by position, a pinned
difference); ``resolve_conflicts`` applies TradeStream's published rule to random
signals first, a loop written here from docs/backtesting.md, not the engine's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

SEED = 20251203
BARS = 1200
FREQ = "1min"


@dataclass
class Case:
    name: str
    kind: str  # "parity" or "difference"
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    entries: list[int]  # bars
    exits: list[int]
    cash: float = 10_000.0
    fees: float = 0.001
    slippage: float = 0.0
    size: float = 1.0
    fill: str = "close"  # or "next_open"
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    vectorbt: dict = field(default_factory=dict)  # extra from_signals arguments (difference cases)
    drop_entries_on_stop_bars: bool = False  # vectorbt ignores signals on a stop bar (a pinned difference)

    def as_dict(self) -> dict:
        return asdict(self)


def ohlc_with_gaps(rng: np.random.Generator, bars: int, volatility: float, drift: float = 0.0,
                   gap_probability: float = 0.03, gap_size: float = 0.01, range_size: float = 0.0015
                   ) -> tuple[np.ndarray, ...]:
    """A random walk of closes; each open is the previous close, except at gaps (a jump of about
    ``gap_size``); high and low reach beyond the body by up to ``range_size`` of the price."""
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, volatility, bars)))
    open_ = np.r_[close[0] * (1 - volatility), close[:-1]]
    gaps = rng.random(bars) < gap_probability
    open_[gaps] *= np.exp(rng.choice([-1.0, 1.0], gaps.sum()) * gap_size * (0.5 + rng.random(gaps.sum())))
    body_high, body_low = np.maximum(open_, close), np.minimum(open_, close)
    high = body_high * (1 + range_size * rng.random(bars))
    low = body_low * (1 - range_size * rng.random(bars))
    return open_, high, low, close


def resolve_conflicts(entries: np.ndarray, exits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TradeStream's rule for a bar with both signals, without stops: flat -> the entry, long -> the exit.
    Signals that cannot act (an entry while long, an exit while flat) are left as they are."""
    entries, exits = entries.copy(), exits.copy()
    long = False
    for i in range(entries.size):
        if entries[i] and exits[i]:
            if long:
                entries[i] = False
            else:
                exits[i] = False
        if not long and entries[i]:
            long = True
        elif long and exits[i]:
            long = False
    return entries, exits


def _random_signals(rng: np.random.Generator, bars: int, p_entry: float, p_exit: float,
                    first_bar_entry: bool = False) -> tuple[np.ndarray, np.ndarray]:
    entries = rng.random(bars) < p_entry
    exits = rng.random(bars) < p_exit
    entries[0] = first_bar_entry
    return entries, exits


def _case(name: str, kind: str, ohlc: tuple[np.ndarray, ...], entries: np.ndarray, exits: np.ndarray,
          **settings) -> Case:
    o, h, lo, c = ohlc
    return Case(name, kind, o.tolist(), h.tolist(), lo.tolist(), c.tolist(), np.flatnonzero(entries).tolist(),
                np.flatnonzero(exits).tolist(), **settings)


def parity_cases(seed: int = SEED, bars: int = BARS) -> list[Case]:
    rng = np.random.default_rng(seed)
    out: list[Case] = []

    def market(volatility: float = 0.002, drift: float = 0.0, **kw) -> tuple[np.ndarray, ...]:
        return ohlc_with_gaps(rng, bars, volatility, drift, **kw)

    # signal exits at the close, fees, conflicts resolved by position, winners and losers
    for i, (drift, p) in enumerate(((0.0003, 0.03), (-0.0003, 0.03), (0.0, 0.2))):
        entries, exits = resolve_conflicts(*_random_signals(rng, bars, p, p))
        out.append(_case(f"close_fills_{i}", "parity", market(drift=drift), entries, exits, fees=0.001))
    entries, exits = resolve_conflicts(*_random_signals(rng, bars, 0.05, 0.05))
    out.append(_case("fees_slippage_fractional", "parity", market(0.003), entries, exits, cash=500.0, fees=0.0025,
                     slippage=0.0005, size=0.4))
    entries, exits = resolve_conflicts(*_random_signals(rng, bars, 0.1, 0.1))
    out.append(_case("no_costs", "parity", market(), entries, exits, fees=0.0))
    # fills at the next bar's open (vectorbt: signals one bar later, price = open)
    for i, size in enumerate((1.0, 0.6)):
        entries, exits = resolve_conflicts(*_random_signals(rng, bars, 0.04, 0.04))
        out.append(_case(f"next_open_{i}", "parity", market(drift=0.0002 * (1 - 2 * i)), entries, exits,
                         fill="next_open", fees=0.001, slippage=0.0002, size=size))
    # a position still open at the end
    entries = np.zeros(bars, dtype=bool)
    exits = np.zeros(bars, dtype=bool)
    entries[[50, 700]], exits[[400]] = True, True
    out.append(_case("open_at_end", "parity", market(), entries, exits, fees=0.002))
    # stops on bars with gaps: exits at the level or, through a gap, at the open
    stop_settings = (
        dict(stop_loss=0.01), dict(take_profit=0.015), dict(stop_loss=0.008, take_profit=0.012),
        dict(trailing_stop=0.012), dict(trailing_stop=0.02, take_profit=0.03),
        dict(stop_loss=0.01, slippage=0.0003, size=0.5),
    )
    for i, settings in enumerate(stop_settings):
        entries, exits = _random_signals(rng, bars, 0.03, 0.01)
        exits &= ~entries
        # trailing cases: no gaps and bars far narrower than the trail, so no bar raises the trail with its
        # high and closes under it (TradeStream exits on that bar, vectorbt at the next open: a pinned difference)
        trailing = "trailing_stop" in settings
        bars_ = market(0.0015, gap_probability=0.0, range_size=0.001) if trailing else market(0.003)
        out.append(_case(f"stops_{i}", "parity", bars_, entries, exits, fees=0.001,
                         drop_entries_on_stop_bars=True, **settings))
    return out


def difference_cases() -> list[Case]:
    """One hand-made case per deliberate difference; docs/backtesting.md names each."""
    flat = np.full(10, 100.0)
    up = 100.0 + np.arange(10.0)

    def ohlc(close, open_=None, high=None, low=None):
        close = np.asarray(close, dtype=float)
        open_ = np.r_[close[0], close[:-1]] if open_ is None else np.asarray(open_, dtype=float)
        high = np.maximum(open_, close) if high is None else np.asarray(high, dtype=float)
        low = np.minimum(open_, close) if low is None else np.asarray(low, dtype=float)
        return open_, high, low, close

    def sig(*bars_: int) -> np.ndarray:
        out = np.zeros(10, dtype=bool)
        out[list(bars_)] = True
        return out

    out = [
        # both signals on bar 3 while long (entered at 1): TradeStream sells, vectorbt ignores both
        _case("conflict_while_long", "difference", ohlc(up), sig(1, 3), sig(3), fees=0.0),
        # an entry on the first bar with fees: TradeStream's drawdown starts from the cash
        _case("first_bar_entry_drawdown", "difference", ohlc(up), sig(0), sig(6), fees=0.01),
        # a stop-loss exit at bar 3 and an entry signal on the same bar: TradeStream re-enters at the close
        _case("reentry_on_stop_bar", "difference",
              ohlc([100, 100, 100, 97, 98, 99, 100, 101, 102, 103]), sig(1, 3), sig(8), fees=0.0, stop_loss=0.02),
        # bar 3 raises the peak to 110 and closes at 104, under the 3 % trail (106.7): TradeStream exits there
        _case("trailing_close_under_raised_level", "difference",
              ohlc([100, 100, 101, 104, 104, 104, 104, 104, 104, 104],
                   high=[100, 100, 101, 110, 104, 104, 104, 104, 104, 104]), sig(1), sig(9), fees=0.0,
              trailing_stop=0.03),
        # a next-open fill at bar 2 (open 100) whose own low (97) is under the 2 % stop: TradeStream stops out on bar 2
        _case("next_open_fill_bar_stop", "difference",
              ohlc([100, 100, 99, 99, 99, 99, 99, 99, 99, 99], low=[100, 100, 97, 99, 99, 99, 99, 99, 99, 99]),
              sig(1), sig(8), fees=0.0, fill="next_open", stop_loss=0.02),
        # a stop exit with slippage: vectorbt's default (StopLimit) fills stops without slippage
        _case("stop_exit_slippage", "difference", ohlc([100, 100, 100, 97, 97, 97, 97, 97, 97, 97]), sig(1), sig(9),
              fees=0.0, slippage=0.001, stop_loss=0.02, vectorbt={"stop_exit_price": "stoplimit"}),
        # a flat account: vectorbt's Sharpe of zero variance is inf, TradeStream's 0
        _case("flat_sharpe", "difference", ohlc(flat), sig(1), sig(5), fees=0.0),
    ]
    return out


def all_cases() -> list[Case]:
    return parity_cases() + difference_cases()
