"""Presenting backtest results in Dagster's UI: markdown tables and an inline equity chart.

Dagster 1.13's markdown renderer allows ``data:`` image sources (it extends the default
sanitize schema), so a PNG embedded as base64 shows inside the metadata view itself; the
same PNG is also saved as a file and linked, for download.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg

#: Metrics shown in the table, in this order, with how to print them.
TABLE_METRICS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "total return", "{:.2%}"), ("cagr", "CAGR", "{:.2%}"), ("sharpe", "Sharpe", "{:.2f}"),
    ("sortino", "Sortino", "{:.2f}"), ("max_drawdown", "max drawdown", "{:.2%}"),
    ("volatility", "volatility", "{:.2%}"), ("win_rate", "win rate", "{:.1%}"),
    ("profit_factor", "profit factor", "{:.2f}"), ("number_of_trades", "trades", "{:d}"),
    ("exposure", "exposure", "{:.1%}"), ("score", "score", "{:.3f}"), ("final_equity", "final equity", "{:,.2f}"),
)


def _fmt(fmt: str, value: object) -> str:
    try:
        return fmt.format(int(value) if fmt == "{:d}" else float(value))
    except (TypeError, ValueError):
        return str(value)


def metrics_markdown(rows: Mapping[str, Mapping[str, float]]) -> str:
    """A markdown table: one column per pair, one row per metric."""
    pairs = list(rows)
    lines = ["| metric | " + " | ".join(pairs) + " |", "|---|" + "---:|" * len(pairs)]
    for key, label, fmt in TABLE_METRICS:
        lines.append(f"| {label} | " + " | ".join(_fmt(fmt, rows[p].get(key, "")) for p in pairs) + " |")
    return "\n".join(lines)


def image_markdown(png: Path, title: str) -> str:
    encoded = base64.b64encode(png.read_bytes()).decode()
    return f"**{title}**\n\n![{title}](data:image/png;base64,{encoded})"


def chart_metadata(charts: Sequence[tuple[str, Path]]) -> dict[str, dg.MetadataValue]:
    """``equity_curve`` (inline images, markdown) and one file path per chart."""
    meta: dict[str, dg.MetadataValue] = {
        "equity_curve": dg.MetadataValue.md("\n\n".join(image_markdown(path, title) for title, path in charts)),
    }
    for title, path in charts:
        meta[f"equity_chart_file {title}"] = dg.MetadataValue.path(str(path))
    return meta
