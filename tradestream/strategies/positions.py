"""Long-only position semantics shared by the live engine and the backtester.

One unit, long or flat. At each bar's close:

* flat and the entry condition holds  -> BUY  (+1), now long;
* long and the exit condition holds   -> SELL (-1), now flat;
* otherwise nothing (0).

When entry and exit hold on the same bar, the position decides: flat -> BUY only,
long -> SELL only. So BUYs and SELLs alternate, starting with a BUY; a strategy never
emits two BUYs in a row.

``step`` is the single definition of that rule. ``trade_signals`` runs it over whole
series (vectorized evaluation, backtests); the live evaluator calls it once per bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

BUY = 1
SELL = -1
NONE = 0
FLAT = 0
LONG = 1


@njit(cache=True)
def step(position: int, entry: bool, exit_: bool) -> tuple[int, int]:
    """(new position, action) for one bar: action is BUY (+1), SELL (-1) or NONE (0)."""
    if position == FLAT:
        if entry:
            return LONG, BUY
        return FLAT, NONE
    if exit_:
        return FLAT, SELL
    return LONG, NONE


@njit(cache=True)
def _run(entries: np.ndarray, exits: np.ndarray, initial: int) -> tuple[np.ndarray, np.ndarray]:
    n = entries.size
    actions = np.zeros(n, dtype=np.int8)
    positions = np.zeros(n, dtype=np.int8)
    position = initial
    for i in range(n):
        position, action = step(position, entries[i], exits[i])
        actions[i] = action
        positions[i] = position
    return actions, positions


def _as_bool(series: pd.Series | np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(series)
    if values.dtype != np.bool_:
        raise ValueError(f"{name} must be a boolean series, got dtype {values.dtype}")
    return values


def trade_signals(entries: pd.Series, exits: pd.Series, initial_position: int = FLAT) -> pd.Series:
    """int8 series of BUY (+1) / SELL (-1) / 0 per bar, applying the long-only rule above."""
    if not entries.index.equals(exits.index):
        raise ValueError("entries and exits must share one index (the candle frame's)")
    if initial_position not in (FLAT, LONG):
        raise ValueError(f"initial_position={initial_position} must be {FLAT} (flat) or {LONG} (long)")
    actions, _ = _run(_as_bool(entries, "entries"), _as_bool(exits, "exits"), initial_position)
    return pd.Series(actions, index=entries.index, name="signal")


def positions_after(entries: pd.Series, exits: pd.Series, initial_position: int = FLAT) -> pd.Series:
    """int8 series of the position held after each bar's signal (0 flat, 1 long)."""
    if not entries.index.equals(exits.index):
        raise ValueError("entries and exits must share one index (the candle frame's)")
    _, positions = _run(_as_bool(entries, "entries"), _as_bool(exits, "exits"), initial_position)
    return pd.Series(positions, index=entries.index, name="position")
