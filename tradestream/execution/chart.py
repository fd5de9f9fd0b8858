"""The portfolio chart: each allocation's candles with its buys and sells marked, its equity underneath
(matplotlib, written as a PNG; no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from tradestream.execution.portfolio import ACCOUNT_TOTAL  # noqa: E402

MAX_PANELS = 6


def plot_portfolio(curves: pd.DataFrame, fills: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Per allocation (at most ``MAX_PANELS``, the most active first): close price with fills marked
    (green ^ buy, red v sell) over its equity; the last panel pair is each account's equity and drawdown."""
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    allocations = curves[curves["allocation_id"] != ACCOUNT_TOTAL]
    counts = fills.groupby("allocation_id").size() if len(fills) else pd.Series(dtype=int)
    ids = sorted(allocations["allocation_id"].unique(), key=lambda a: (-int(counts.get(a, 0)), a))[:MAX_PANELS]
    rows = len(ids) + 1
    figure, axes = plt.subplots(rows * 2, 1, figsize=(11, 3.2 * rows), sharex=True,
                                height_ratios=[2, 1] * rows, squeeze=False)
    axes = axes[:, 0]
    try:
        for i, allocation_id in enumerate(ids):
            top, bottom = axes[2 * i], axes[2 * i + 1]
            c = allocations[allocations["allocation_id"] == allocation_id].sort_values("time")
            top.plot(c["time"], c["close"], color="tab:gray", linewidth=0.9)
            mine = fills[fills["allocation_id"] == allocation_id] if len(fills) else fills
            for side, marker, color in (("BUY", "^", "tab:green"), ("SELL", "v", "tab:red")):
                f = mine[mine["side"] == side] if len(mine) else mine
                if len(f):
                    top.scatter(pd.to_datetime(f["fill_time"]).dt.tz_localize("UTC"), f["price"], marker=marker,
                                color=color, s=22, zorder=3, label=side.lower())
            top.set_title(allocation_id, fontsize=8)
            top.set_ylabel("price", fontsize=8)
            top.grid(alpha=0.3)
            if len(mine):
                top.legend(loc="upper left", fontsize=7)
            bottom.plot(c["time"], c["equity"], color="tab:blue", linewidth=1.0)
            bottom.set_ylabel("equity", fontsize=8)
            bottom.grid(alpha=0.3)
        top, bottom = axes[-2], axes[-1]
        for account, c in curves[curves["allocation_id"] == ACCOUNT_TOTAL].groupby("account"):
            c = c.sort_values("time")
            top.plot(c["time"], c["equity"], linewidth=1.2, label=f"account {account}")
            bottom.fill_between(c["time"], c["drawdown"], 0.0, alpha=0.35, label=account)
        top.set_ylabel("account equity", fontsize=8)
        top.legend(loc="upper left", fontsize=7)
        top.grid(alpha=0.3)
        bottom.set_ylabel("drawdown", fontsize=8)
        bottom.grid(alpha=0.3)
        if title:
            figure.suptitle(title, fontsize=10)
        figure.tight_layout()
        figure.savefig(path, dpi=90)
    finally:
        plt.close(figure)
    return path
