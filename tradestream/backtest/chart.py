"""Equity-curve chart of a backtest, written as a PNG (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

if TYPE_CHECKING:
    from tradestream.backtest.engine import BacktestRun


def plot_equity(run: BacktestRun, path: str | Path, title: str | None = None) -> Path:
    """The equity curve of one run (see ``plot_curve``); returns the written path."""
    m = run.metrics
    title = title or (f"{run.strategy or 'backtest'} {run.params or ''}  return {m.total_return:+.2%}  "
                      f"Sharpe {m.sharpe:.2f}  max drawdown {m.max_drawdown:.2%}  trades {m.number_of_trades}")
    return plot_curve(run.equity, run.close, run.config.cash, run.trades, path, title=title)


def plot_curve(equity: pd.Series, close: pd.Series, cash: float, trades: pd.DataFrame | None, path: str | Path,
               title: str = "") -> Path:
    """Equity against buy-and-hold on top, drawdown below, entries and exits marked; returns the PNG path."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    hold = close / close.iloc[0] * cash
    drawdown = equity / equity.cummax().clip(lower=cash) - 1.0
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, height_ratios=(3, 1))
    try:
        top.plot(equity.index, equity.to_numpy(), label="strategy", color="tab:blue", linewidth=1.2)
        top.plot(hold.index, hold.to_numpy(), label="buy and hold", color="tab:gray", linewidth=0.9, alpha=0.8)
        if trades is not None and len(trades):
            top.scatter(trades["entry_time"], equity.loc[trades["entry_time"]].to_numpy(), marker="^",
                        color="tab:green", s=14, label="entry", zorder=3)
            closed = trades[trades["exit_bar"] >= 0]
            top.scatter(closed["exit_time"], equity.loc[closed["exit_time"]].to_numpy(), marker="v",
                        color="tab:red", s=14, label="exit", zorder=3)
        top.set_title(title, fontsize=10)
        top.set_ylabel("equity")
        top.grid(alpha=0.3)
        top.legend(loc="upper left", fontsize=8)
        bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0.0, color="tab:red", alpha=0.35)
        bottom.set_ylabel("drawdown")
        bottom.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path
