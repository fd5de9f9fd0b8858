"""vectorbt's half of benchmarks/optimize_throughput.py; runs inside the reference venv.

For each strategy of ``params.json`` it evaluates the whole parameter grid the way a
vectorbt user optimizes: the indicator factory run with parameter broadcasting (one
column per parameter set), the entry and exit signals from the outputs, then
``Portfolio.from_signals`` and total return, Sharpe and maximum drawdown. Columns are
processed ``chunk`` sets at a time (as TradeStream chunks its grid) so memory stays bounded.
The Numba engine is warmed up on a small slice first; the timing covers indicators +
signals + simulation + metrics. Signals are written back (bit-packed, sets x bars) so the
caller can measure how often both libraries agree.

How each strategy is expressed with vectorbt's own indicators:

- MACD_CROSSOVER: ``vbt.MACD`` with ``macd_ewm=True, signal_ewm=True``; the MACD line
  crossing above / below its signal line.
- RSI_EMA_CROSSOVER: ``vbt.RSI`` with ``ewm=True`` and window ``2 n - 1`` (vectorbt's EWM
  takes a span, alpha = 2 / (span + 1); Wilder's RSI of period n has alpha = 1 / n), then
  ``vbt.MA`` (``ewm=True``) of each RSI column with its own window; RSI crossing its EMA.
- DONCHIAN_BREAKOUT: vectorbt has no Donchian channel; an ``IndicatorFactory`` over its
  rolling max / min kernels (``vbt.generic.nb``); close above the previous bar's highest
  high of ``entry_period`` bars / below the previous lowest low of ``exit_period`` bars.
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


def _donchian_apply(high, low, entry_period, exit_period):
    return (vbt.generic.nb.rolling_max_nb(high, entry_period, minp=entry_period),
            vbt.generic.nb.rolling_min_nb(low, exit_period, minp=exit_period))


DONCHIAN = vbt.IndicatorFactory(input_names=["high", "low"], param_names=["entry_period", "exit_period"],
                                output_names=["upper", "lower"]).from_apply_func(_donchian_apply)


def signals(name: str, frame: pd.DataFrame, sets: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    close = frame["close"]
    if name == "MACD_CROSSOVER":
        macd = vbt.MACD.run(close, fast_window=[s["fast"] for s in sets], slow_window=[s["slow"] for s in sets],
                            signal_window=[s["signal"] for s in sets], macd_ewm=True, signal_ewm=True)
        return macd.macd_crossed_above(macd.signal), macd.macd_crossed_below(macd.signal)
    if name == "RSI_EMA_CROSSOVER":
        rsi = vbt.RSI.run(close, window=[2 * s["rsi_period"] - 1 for s in sets], ewm=True).rsi
        ema = vbt.MA.run(rsi, window=[s["ema_period"] for s in sets], ewm=True, per_column=True).ma
        ema.columns = rsi.columns
        return rsi.vbt.crossed_above(ema), rsi.vbt.crossed_below(ema)
    if name == "DONCHIAN_BREAKOUT":
        dc = DONCHIAN.run(frame["high"], frame["low"], entry_period=[s["entry_period"] for s in sets],
                          exit_period=[s["exit_period"] for s in sets])
        upper, lower = dc.upper.shift(1), dc.lower.shift(1)
        wide = pd.DataFrame(np.repeat(close.to_numpy()[:, None], len(sets), axis=1), index=close.index,
                            columns=upper.columns)
        return wide > upper, wide < lower
    raise SystemExit(f"no vectorbt expression for strategy {name!r}")


def evaluate(name: str, frame: pd.DataFrame, sets: list[dict], cash: float, fees: float):
    entries, exits = signals(name, frame, sets)
    pf = vbt.Portfolio.from_signals(frame["close"], entries.to_numpy(), exits.to_numpy(), direction="longonly",
                                    init_cash=cash, fees=fees, freq="1min")
    metrics = (pf.total_return().to_numpy(), pf.sharpe_ratio().to_numpy(), pf.max_drawdown().to_numpy())
    return entries.to_numpy().T, exits.to_numpy().T, metrics


def main(work: Path) -> None:
    params = json.loads((work / "params.json").read_text())
    ohlc = np.load(work / "ohlc.npy")
    index = pd.date_range("2024-01-01", periods=ohlc.shape[0], freq="1min")
    frame = pd.DataFrame(ohlc, columns=["open", "high", "low", "close"], index=index)
    out = {"version": vbt.__version__, "strategies": {}}
    for name, sets in params["grids"].items():
        evaluate(name, frame.iloc[:2000], sets[:2], params["cash"], params["fees"])  # warm-up: numba compilation
        chunk = params["chunk"]
        started = time.perf_counter()
        parts = [evaluate(name, frame, sets[i:i + chunk], params["cash"], params["fees"])
                 for i in range(0, len(sets), chunk)]
        seconds = time.perf_counter() - started
        np.save(work / f"{name}_entries.npy", np.packbits(np.vstack([p[0] for p in parts]), axis=1))
        np.save(work / f"{name}_exits.npy", np.packbits(np.vstack([p[1] for p in parts]), axis=1))
        out["strategies"][name] = {"seconds": seconds, "sets": len(sets)}
        print(f"  vectorbt {name}: {len(sets)} sets in {seconds:.2f} s", flush=True)
    (work / "vbt_optimize.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
