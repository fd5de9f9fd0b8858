"""Optimization throughput: strategy evaluations per second, TradeStream against vectorbt, in one run.

A strategy evaluation = indicators + signals + backtest + metrics for one parameter set,
what an optimizer pays per trial. For MACD_CROSSOVER, RSI_EMA_CROSSOVER and
DONCHIAN_BREAKOUT (``--strategies``) over ``--bars`` 1-minute bars of a seeded random walk
(default a year, 525,600) and a grid of ``--sets`` parameter sets each (default 500, evenly
picked from the strategy's feasible grid; RSI_EMA_CROSSOVER has only 240), timed on:

- ``kernels``: TradeStream's default (``run_strategy_grid(..., signals="kernels")``): all
  sets of a chunk in one run of the incremental indicator kernels (an indicator shared by
  sets computed once), then the parallel backtest kernel;
- ``pandas-ta``: the same grid with signals set by set through pandas-ta and the shared
  indicator cache (what the optimizer did before; ``--skip-pandas-ta`` leaves it out);
- vectorbt (its reference venv, benchmarks/vectorbt_env/setup.sh): its indicator factory
  with parameter broadcasting, then ``Portfolio.from_signals`` and the same three metrics
  (run_optimize_vectorbt.py says how each strategy is written with vectorbt's indicators).

Every engine is warmed up first (numba compilation not timed). The two libraries seed some
indicators differently (EMA starts, RSI), so instead of identity the share of (set, bar)
cells whose entry and exit signals agree is reported; the two TradeStream paths must agree
on every cell. Run small on a shared machine, e.g. ``--bars 50000 --sets 50``:

    .venv/bin/python benchmarks/optimize_throughput.py [--bars 525600] [--sets 500]
        [--strategies MACD_CROSSOVER RSI_EMA_CROSSOVER DONCHIAN_BREAKOUT] [--skip-pandas-ta] [--skip-vectorbt]

Target (two idle cores): at least 5x vectorbt's evaluations per second. Exits non-zero when
the two TradeStream paths disagree on a signal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.backtest_vs_vectorbt import random_walk_candles  # noqa: E402
from tradestream.backtest import BacktestConfig  # noqa: E402
from tradestream.backtest.candles import validate_candles  # noqa: E402
from tradestream.backtest.engine import run_strategy_grid, signal_matrices  # noqa: E402
from tradestream.strategies import get_strategy  # noqa: E402

STRATEGIES = ("MACD_CROSSOVER", "RSI_EMA_CROSSOVER", "DONCHIAN_BREAKOUT")
TARGET_RATIO = 5.0
VECTORBT_CHUNK = 50  # vectorbt's frames are float64 sets x bars: bounded memory


def grid(name: str, sets: int) -> list[dict]:
    """``sets`` parameter sets evenly picked from the strategy's feasible integer grid (all of it if smaller)."""
    full = get_strategy(name).space.grid()
    if len(full) <= sets:
        return full
    return [full[round(i * (len(full) - 1) / (sets - 1))] for i in range(sets)]


def run_vectorbt(candles, grids: dict[str, list[dict]], config: BacktestConfig) -> tuple[dict, dict]:
    """(timings by strategy, (entries, exits) by strategy) from the reference venv."""
    python = subprocess.run([str(HERE / "vectorbt_env" / "setup.sh")], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    bars = len(candles)
    with tempfile.TemporaryDirectory(prefix="tradestream-vbt-opt-") as tmp:
        work = Path(tmp)
        np.save(work / "ohlc.npy", candles[["open", "high", "low", "close"]].to_numpy())
        (work / "params.json").write_text(json.dumps({"grids": grids, "cash": config.cash, "fees": config.fees,
                                                      "chunk": VECTORBT_CHUNK}))
        subprocess.run([python, str(HERE / "vectorbt_env" / "run_optimize_vectorbt.py"), str(work)], check=True)
        timing = json.loads((work / "vbt_optimize.json").read_text())
        signals = {name: tuple(np.unpackbits(np.load(work / f"{name}_{side}.npy"), axis=1, count=bars).astype(bool)
                               for side in ("entries", "exits")) for name in grids}
    return timing, signals


def agreement(ours: tuple[np.ndarray, np.ndarray], theirs: tuple[np.ndarray, np.ndarray]) -> float:
    """Share of (set, bar) cells where entry and exit signals are the same."""
    same = (ours[0] == theirs[0]) & (ours[1] == theirs[1])
    return float(same.mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bars", type=int, default=525_600, help="1-minute bars (default a year: 525600)")
    parser.add_argument("--sets", type=int, default=500, help="parameter sets per strategy (default 500)")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--skip-pandas-ta", action="store_true", help="leave out the set-by-set pandas-ta path")
    parser.add_argument("--skip-vectorbt", action="store_true", help="TradeStream only (no ratio against vectorbt)")
    args = parser.parse_args()
    if args.bars < 1000 or args.sets < 2:
        parser.error(f"--bars {args.bars} / --sets {args.sets}: give at least 1000 bars and 2 sets")

    candles = random_walk_candles(args.bars)
    frame, _ = validate_candles(candles, "1m")
    config = BacktestConfig()
    grids = {name: grid(name, args.sets) for name in args.strategies}
    paths = ["kernels"] + ([] if args.skip_pandas_ta else ["pandas-ta"])
    print(f"{args.bars:,} one-minute bars; grids: " + ", ".join(f"{n} {len(g)} sets" for n, g in grids.items()),
          flush=True)

    seconds: dict[tuple[str, str], float] = {}
    ours: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for name, sets in grids.items():
        for path in paths:
            run_strategy_grid(candles.iloc[:1000], name, sets[:2], config, timeframe="1m", signals=path)  # warm-up
            started = time.perf_counter()
            run_strategy_grid(candles, name, sets, config, timeframe="1m", signals=path)
            seconds[(name, path)] = time.perf_counter() - started
            entries, exits, _ = signal_matrices(frame, get_strategy(name), sets, engine=path)
            ours[(name, path)] = (entries, exits)
            print(f"  TradeStream {path} {name}: {len(sets)} sets in {seconds[(name, path)]:.2f} s", flush=True)

    failures = []
    if "pandas-ta" in paths:
        for name in grids:
            share = agreement(ours[(name, "kernels")], ours[(name, "pandas-ta")])
            if share != 1.0:
                failures.append(f"{name}: the kernels and pandas-ta paths disagree on {1 - share:.2e} of the cells")

    vbt_seconds: dict[str, float] = {}
    vbt_share: dict[str, float] = {}
    version = "-"
    if not args.skip_vectorbt:
        timing, vbt_signals = run_vectorbt(candles, grids, config)
        version = timing["version"]
        for name in grids:
            vbt_seconds[name] = timing["strategies"][name]["seconds"]
            vbt_share[name] = agreement(ours[(name, "kernels")], vbt_signals[name])

    print(f"\n| strategy | sets | path | seconds | evaluations/s | vs vectorbt {version} "
          "| signals agreeing with vectorbt |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for name, sets in grids.items():
        rows = [(path, seconds[(name, path)]) for path in paths]
        if name in vbt_seconds:
            rows.append(("vectorbt", vbt_seconds[name]))
        for path, spent in rows:
            ratio = vbt_seconds[name] / spent if name in vbt_seconds else float("nan")
            if path == "kernels" and name in vbt_seconds:
                ratios.append(ratio)
            share = f"{vbt_share[name]:.4f}" if name in vbt_share and path != "vectorbt" else "-"
            print(f"| {name} | {len(sets)} | {path} | {spent:.2f} | {len(sets) / spent:,.0f} | {ratio:.1f}x | "
                  f"{share if path == 'kernels' else '-'} |")
    if ratios:
        worst = min(ratios)
        print(f"\nTradeStream (kernels) against vectorbt: {worst:.1f}x at worst (target >= {TARGET_RATIO:.0f}x): "
              f"{'MET' if worst >= TARGET_RATIO else 'MISSED'}")
    if "pandas-ta" in paths:
        print("kernels vs pandas-ta path: " + ", ".join(
            f"{name} {seconds[(name, 'pandas-ta')] / seconds[(name, 'kernels')]:.1f}x" for name in grids)
            + " faster; same signals on every bar" + ("" if not failures else " EXCEPT: " + "; ".join(failures)))
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
