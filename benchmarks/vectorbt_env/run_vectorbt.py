"""vectorbt's half of benchmarks/backtest_vs_vectorbt.py; runs inside the reference venv.

Reads close prices and (combos x bars) signal matrices from a work directory and times
``Portfolio.from_signals`` (simulation) and total return + Sharpe ratio + maximum
drawdown (metrics) separately, on each of vectorbt's engines: its numba kernels and its
Rust kernels (``engine="rust"``, from vectorbt-rust). Inputs (the pandas frames vectorbt
takes) are built before any timing; each engine is warmed up on a small slice first;
each timing is the best of ``repeat`` runs, each on a fresh portfolio (vectorbt caches
metric results on the portfolio object). Writes per-engine metric vectors (.npy) and the
timings (JSON) to the same directory.
"""

from __future__ import annotations

import gc
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import vectorbt as vbt

warnings.filterwarnings("ignore")


def simulate(close, entries, exits, cash: float, fees: float, engine: str):
    return vbt.Portfolio.from_signals(close, entries, exits, direction="longonly", init_cash=cash, fees=fees,
                                      freq="1min", engine=engine)


def metrics(pf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return pf.total_return().to_numpy(), pf.sharpe_ratio().to_numpy(), pf.max_drawdown().to_numpy()


def time_engine(engine: str, close, entries, exits, small, cash: float, fees: float, repeat: int) -> dict:
    simulate(*small, cash, fees, engine)  # warm-up: compile / load kernels
    metrics(simulate(*small, cash, fees, engine))
    sim_times, metric_times, result = [], [], None
    for _ in range(repeat):
        started = time.perf_counter()
        pf = simulate(close, entries, exits, cash, fees, engine)
        sim_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = metrics(pf)
        metric_times.append(time.perf_counter() - started)
        # One portfolio at a time: with its cached value, returns and drawdown series a
        # 500,000-bar x 153-column portfolio holds several GB; two alive at once ran this
        # 24 GiB machine out of memory.
        del pf
        gc.collect()
    return {"simulation_seconds": min(sim_times), "metrics_seconds": min(metric_times),
            "simulation_runs": sim_times, "metrics_runs": metric_times, "result": result}


def main(work: Path) -> None:
    params = json.loads((work / "params.json").read_text())
    close_values = np.load(work / "close.npy")
    bars = close_values.shape[0]
    index = pd.date_range("2024-01-01", periods=bars, freq="1min")
    close = pd.Series(close_values, index=index)
    entries = pd.DataFrame(np.unpackbits(np.load(work / "entries.npy"), axis=1, count=bars).astype(bool).T,
                           index=index)
    exits = pd.DataFrame(np.unpackbits(np.load(work / "exits.npy"), axis=1, count=bars).astype(bool).T, index=index)
    cut = min(2000, bars)
    small = (close.iloc[:cut], entries.iloc[:cut, :2], exits.iloc[:cut, :2])
    timings = {"version": vbt.__version__, "bars": bars, "combos": entries.shape[1], "engines": {}}
    for engine in ("numba", "rust"):
        try:
            measured = time_engine(engine, close, entries, exits, small, params["cash"], params["fees"],
                                   params["repeat"])
        except Exception as exc:  # noqa: BLE001  (an engine that cannot run is reported, not fatal)
            timings["engines"][engine] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        for name, values in zip(("total_return", "sharpe", "max_drawdown"), measured.pop("result"), strict=True):
            np.save(work / f"vbt_{engine}_{name}.npy", values)
        timings["engines"][engine] = measured
    (work / "vbt_timing.json").write_text(json.dumps(timings))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
