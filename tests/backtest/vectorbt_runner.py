"""vectorbt's half of the parity test; runs inside vectorbt's own venv (benchmarks/vectorbt_env).

    "$(benchmarks/vectorbt_env/setup.sh)" tests/backtest/vectorbt_runner.py cases.json results.json

Reads the cases ``vectorbt_cases.py`` wrote, runs each through
``vbt.Portfolio.from_signals`` and writes vectorbt's trades and metrics. Imports only
numpy, pandas and vectorbt: nothing of TradeStream.

Mapping of TradeStream's settings onto vectorbt's:

* long-only, ``init_cash``, ``fees``, ``slippage``; ``size`` < 1 as ``size_type="percent"``;
* fills at the next open: signals moved one bar later with ``price=open`` (the stop base
  then is that price: ``stop_entry_price="price"``);
* stop-loss ``sl_stop``, trailing stop ``sl_stop`` with ``sl_trail=True``, take-profit
  ``tp_stop``, on ``open/high/low``; stops fill at their level with slippage
  (``stop_exit_price="stopmarket"``) as TradeStream's do, unless a case says otherwise;
* ``drop_entries_on_stop_bars``: vectorbt ignores every signal on a bar where a stop
  fired, TradeStream may re-enter at that close (a pinned difference); such entries are
  removed (repeating until none is left) so the parity case compares the rest.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import vectorbt as vbt
from vectorbt.returns import nb as returns_nb

warnings.filterwarnings("ignore")
FREQ = "1min"
PERIODS_PER_YEAR = 365 * 24 * 60


def _signals(case: dict, key: str) -> np.ndarray:
    out = np.zeros(len(case["close"]), dtype=bool)
    out[case[key]] = True
    return out


def simulate(case: dict, entries: np.ndarray, exits: np.ndarray):
    n = len(case["close"])
    index = pd.date_range("2024-01-01", periods=n, freq=FREQ)
    kwargs: dict = dict(direction="longonly", init_cash=case["cash"], fees=case["fees"], slippage=case["slippage"],
                        freq=FREQ, open=pd.Series(case["open"], index), high=pd.Series(case["high"], index),
                        low=pd.Series(case["low"], index), stop_exit_price="stopmarket")
    if case["size"] < 1.0:
        kwargs.update(size=case["size"], size_type="percent")
    if case["fill"] == "next_open":
        entries, exits = np.r_[False, entries[:-1]], np.r_[False, exits[:-1]]
        kwargs.update(price=pd.Series(case["open"], index), stop_entry_price="price")
    if case["stop_loss"] is not None:
        kwargs["sl_stop"] = case["stop_loss"]
    if case["trailing_stop"] is not None:
        kwargs.update(sl_stop=case["trailing_stop"], sl_trail=True)
    if case["take_profit"] is not None:
        kwargs["tp_stop"] = case["take_profit"]
    kwargs.update(case["vectorbt"])
    return vbt.Portfolio.from_signals(pd.Series(case["close"], index), pd.Series(entries, index),
                                      pd.Series(exits, index), **kwargs)


def stop_bars(pf, exits: np.ndarray, shifted: bool) -> set[int]:
    """Bars where a trade was closed by something other than an exit signal (a stop)."""
    records = pf.trades.records
    closed = records[records["status"] == 1]
    signal_bars = np.flatnonzero(np.r_[False, exits[:-1]] if shifted else exits)
    return {int(i) for i in closed["exit_idx"] if i not in set(signal_bars)}


def run(case: dict) -> dict:
    entries, exits = _signals(case, "entries"), _signals(case, "exits")
    pf = simulate(case, entries, exits)
    if case["drop_entries_on_stop_bars"]:
        for _ in range(20):
            clash = [b for b in stop_bars(pf, exits, False) if entries[b]]
            if not clash:
                break
            entries[clash] = False
            pf = simulate(case, entries, exits)
        else:
            raise RuntimeError(f"{case['name']}: entries on stop bars did not settle")
    trades = pf.trades.records
    returns = pf.returns().to_numpy()
    value = pf.value().to_numpy()
    market = np.r_[0.0, np.diff(case["close"]) / np.asarray(case["close"][:-1])]
    closed = trades[trades["status"] == 1]
    return {
        "name": case["name"],
        "entries": np.flatnonzero(entries).tolist(),
        "exits": np.flatnonzero(exits).tolist(),
        "trades": [{"entry_idx": int(t["entry_idx"]), "exit_idx": int(t["exit_idx"]),
                    "entry_price": float(t["entry_price"]), "exit_price": float(t["exit_price"]),
                    "size": float(t["size"]), "entry_fees": float(t["entry_fees"]), "exit_fees": float(t["exit_fees"]),
                    "pnl": float(t["pnl"]), "return": float(t["return"]), "open": int(t["status"]) == 0}
                   for t in trades.to_dict("records")],
        "metrics": {
            "final_value": float(pf.final_value()),
            "total_return": float(pf.total_return()),
            "annualized_return": float(pf.annualized_return()),
            "annualized_volatility": float(pf.annualized_volatility()),
            "sharpe_ratio": float(pf.sharpe_ratio()),
            "sortino_ratio": float(pf.sortino_ratio()),
            "max_drawdown": float(pf.max_drawdown()),
            "calmar_ratio": float(pf.calmar_ratio()),
            "win_rate": float(pf.trades.closed.win_rate()),
            "profit_factor": float(pf.trades.closed.profit_factor()),
            "expectancy": float(pf.trades.closed.expectancy()),
            "mean_trade_return": float(closed["return"].mean()) if len(closed) else 0.0,
            "closed_trades": int(len(closed)),
            "mean_duration_bars": float((closed["exit_idx"] - closed["entry_idx"]).mean()) if len(closed) else 0.0,
            "position_coverage": float(pf.position_coverage()),
            "beta": float(pf.beta()),
            "alpha": float(pf.alpha()),
            # the same two on bars 1.. with the asset's close-to-close returns, TradeStream's sample
            "beta_from_bar_1": float(returns_nb.beta_1d_nb(returns[1:], market[1:])),
            "alpha_from_bar_1": float(returns_nb.alpha_1d_nb(returns[1:], market[1:], PERIODS_PER_YEAR)),
            # the mean per-bar excess return inside vectorbt's alpha, before it compounds it over a year
            "alpha_per_bar_from_bar_1": float(np.nanmean(
                returns[1:] - returns_nb.beta_1d_nb(returns[1:], market[1:]) * market[1:])),
        },
        "value": value.tolist(),
        "version": vbt.__version__,
    }


def main(cases_path: Path, results_path: Path) -> None:
    cases = json.loads(cases_path.read_text())
    results_path.write_text(json.dumps([run(case) for case in cases]))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
