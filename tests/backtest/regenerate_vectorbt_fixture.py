"""Regenerate tests/backtest/fixtures/vectorbt_parity.json with vectorbt itself.

vectorbt is never a dependency of TradeStream (its numba/pandas pins clash with
pandas-ta's), so this script runs in vectorbt's own venv and stores prices, signals and
vectorbt's answers; test_vectorbt_parity.py replays them through TradeStream's engine.

    python=$(benchmarks/vectorbt_env/setup.sh)
    "$python" tests/backtest/regenerate_vectorbt_fixture.py

Signals here never hold an entry and an exit on the same bar, and never enter on bar 0:
on a conflicting bar vectorbt's default ignores both signals while TradeStream's shared
rules BUY when flat and SELL when long, and vectorbt's drawdown starts from the first
bar's value rather than the starting cash. Everything else is compared as is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import vectorbt as vbt

BARS = 1500
FREQ = "1min"  # TradeStream timeframe "1m": 525,600 bars a year, as vectorbt's 365-day year gives
OUT = Path(__file__).with_name("fixtures") / "vectorbt_parity.json"


def random_walk(rng: np.random.Generator, bars: int, volatility: float) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, volatility, bars)))


def disjoint_random(rng: np.random.Generator, bars: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    entries = rng.random(bars) < p
    exits = (rng.random(bars) < p) & ~entries
    entries[0] = False
    return entries, exits


def sma_crossover(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    fast_ma = pd.Series(close).rolling(fast).mean().to_numpy()
    slow_ma = pd.Series(close).rolling(slow).mean().to_numpy()
    above = fast_ma > slow_ma
    previous = np.roll(above, 1)
    previous[0] = False
    valid = ~np.isnan(slow_ma) & ~np.isnan(np.roll(slow_ma, 1))
    entries = above & ~previous & valid
    exits = ~above & previous & valid
    return entries, exits


def cases() -> list[dict]:
    rng = np.random.default_rng(20241126)
    out = []

    close = random_walk(rng, BARS, 0.002)
    entries, exits = disjoint_random(rng, BARS, 0.02)
    out.append(dict(name="sparse_random", close=close, entries=entries, exits=exits, cash=10_000.0, fees=0.001,
                    slippage=0.0, size=1.0))

    close = random_walk(rng, BARS, 0.004)
    entries, exits = disjoint_random(rng, BARS, 0.3)
    out.append(dict(name="dense_random_fees_slippage", close=close, entries=entries, exits=exits, cash=100.0,
                    fees=0.0025, slippage=0.0005, size=1.0))

    close = random_walk(rng, BARS, 0.003)
    entries, exits = sma_crossover(close, 10, 30)
    out.append(dict(name="sma_crossover_10_30", close=close, entries=entries, exits=exits, cash=1_000.0,
                    fees=0.001, slippage=0.0, size=1.0))

    close = random_walk(rng, BARS, 0.001)
    entries = np.zeros(BARS, dtype=bool)
    exits = np.zeros(BARS, dtype=bool)
    entries[1::2] = True
    exits[2::2] = True
    out.append(dict(name="alternating_every_bar", close=close, entries=entries, exits=exits, cash=10_000.0,
                    fees=0.0005, slippage=0.0, size=1.0))

    close = random_walk(rng, BARS, 0.002)
    entries = np.zeros(BARS, dtype=bool)
    entries[[100, 700, 900]] = True
    exits = np.zeros(BARS, dtype=bool)
    exits[[400]] = True
    out.append(dict(name="still_open_at_end", close=close, entries=entries, exits=exits, cash=10_000.0,
                    fees=0.002, slippage=0.0, size=1.0))

    close = random_walk(rng, BARS, 0.002)
    entries, exits = disjoint_random(rng, BARS, 0.05)
    out.append(dict(name="fractional_size", close=close, entries=entries, exits=exits, cash=10_000.0,
                    fees=0.001, slippage=0.0002, size=0.4))

    close = random_walk(rng, BARS, 0.002)
    entries, exits = disjoint_random(rng, BARS, 0.1)
    out.append(dict(name="no_fees_random", close=close, entries=entries, exits=exits, cash=10_000.0, fees=0.0,
                    slippage=0.0, size=1.0))
    return out


def run_vectorbt(case: dict) -> dict:
    index = pd.date_range("2024-01-01", periods=BARS, freq=FREQ)
    close = pd.Series(case["close"], index=index)
    entries = pd.Series(case["entries"], index=index)
    exits = pd.Series(case["exits"], index=index) & ~entries
    sizing = {} if case["size"] >= 1.0 else {"size": case["size"], "size_type": "percent"}
    pf = vbt.Portfolio.from_signals(close, entries, exits, direction="longonly", init_cash=case["cash"],
                                    fees=case["fees"], slippage=case["slippage"], freq=FREQ, **sizing)
    trades = pf.trades.records
    return {
        "total_return": float(pf.total_return()),
        "final_value": float(pf.final_value()),
        "sharpe": float(pf.sharpe_ratio()),
        "sortino": float(pf.sortino_ratio()),
        "annualized_return": float(pf.annualized_return()),
        "annualized_volatility": float(pf.annualized_volatility()),
        "max_drawdown": float(pf.max_drawdown()),
        "trades": [
            {"entry_idx": int(t["entry_idx"]), "exit_idx": int(t["exit_idx"]), "entry_price": float(t["entry_price"]),
             "exit_price": float(t["exit_price"]), "size": float(t["size"]), "entry_fees": float(t["entry_fees"]),
             "exit_fees": float(t["exit_fees"]), "pnl": float(t["pnl"]), "return": float(t["return"]),
             "open": int(t["status"]) == 0}
            for t in trades.to_dict("records")
        ],
    }


def main() -> None:
    payload = {
        "generator": f"vectorbt {vbt.__version__}, numpy {np.__version__}, pandas {pd.__version__}",
        "freq": FREQ,
        "cases": [],
    }
    for case in cases():
        assert not (case["entries"] & case["exits"]).any(), case["name"]
        assert not case["entries"][0], case["name"]
        payload["cases"].append({
            "name": case["name"],
            "cash": case["cash"], "fees": case["fees"], "slippage": case["slippage"], "size": case["size"],
            "close": [float(x) for x in case["close"]],
            "entries": np.flatnonzero(case["entries"]).tolist(),
            "exits": np.flatnonzero(case["exits"]).tolist(),
            "expected": run_vectorbt(case),
        })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({len(payload['cases'])} cases)")


if __name__ == "__main__":
    main()
