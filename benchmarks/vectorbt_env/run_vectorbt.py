"""vectorbt's half of benchmarks/backtest_vs_vectorbt.py; runs inside vectorbt's own venv.

Reads close prices and (combos x bars) signal matrices from a work directory, warms
vectorbt's numba kernels up on a small slice, then times Portfolio.from_signals plus
total return, Sharpe ratio and maximum drawdown over the whole grid. Writes the three
metric vectors as .npy and the timings as JSON to the same directory.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import vectorbt as vbt

warnings.filterwarnings("ignore")


def simulate(close: pd.Series, entries: pd.DataFrame, exits: pd.DataFrame, cash: float, fees: float):
    pf = vbt.Portfolio.from_signals(close, entries, exits, direction="longonly", init_cash=cash, fees=fees,
                                    freq="1min")
    return pf.total_return().to_numpy(), pf.sharpe_ratio().to_numpy(), pf.max_drawdown().to_numpy()


def main(work: Path) -> None:
    params = json.loads((work / "params.json").read_text())
    close_values = np.load(work / "close.npy")
    index = pd.date_range("2024-01-01", periods=close_values.shape[0], freq="1min")
    close = pd.Series(close_values, index=index)
    bars = close_values.shape[0]
    entries_matrix = np.unpackbits(np.load(work / "entries.npy"), axis=1, count=bars).astype(bool)
    exits_matrix = np.unpackbits(np.load(work / "exits.npy"), axis=1, count=bars).astype(bool)
    combos = entries_matrix.shape[0]

    started = time.perf_counter()
    small = slice(0, 2000)
    simulate(close.iloc[small], pd.DataFrame(entries_matrix[:2, small].T, index=index[small]),
             pd.DataFrame(exits_matrix[:2, small].T, index=index[small]), params["cash"], params["fees"])
    warmup = time.perf_counter() - started

    # vectorbt takes (bars x combos) frames; building them is part of using it, so it is timed.
    started = time.perf_counter()
    entries = pd.DataFrame(entries_matrix.T, index=index)
    exits = pd.DataFrame(exits_matrix.T, index=index)
    total_return, sharpe, max_drawdown = simulate(close, entries, exits, params["cash"], params["fees"])
    elapsed = time.perf_counter() - started

    np.save(work / "vbt_total_return.npy", total_return)
    np.save(work / "vbt_sharpe.npy", sharpe)
    np.save(work / "vbt_max_drawdown.npy", max_drawdown)
    (work / "vbt_timing.json").write_text(json.dumps({
        "seconds": elapsed, "warmup_seconds": warmup, "combos": combos, "bars": bars,
        "version": vbt.__version__,
    }))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
