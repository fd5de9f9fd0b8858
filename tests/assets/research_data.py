"""Candle history for research tests: the strategy library's seeded synthetic market, stored in DuckDB."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradestream import store
from tradestream.strategies.synthetic import synthetic_candles


def seed_candles(path: Path, pairs: tuple[str, ...], start: pd.Timestamp, days: float, timeframe: str = "1m",
                 seed: int = 7) -> pd.DataFrame:
    """Writes ``days`` of synthetic ``timeframe`` candles per pair from ``start`` into the store's candles table."""
    rows = []
    for i, pair in enumerate(pairs):
        frame = synthetic_candles(days, seed=seed + i, timeframe=timeframe, start=start.strftime("%Y-%m-%d %H:%M"))
        step = frame.index[1] - frame.index[0]
        for at, bar in frame.iterrows():
            begin = at.tz_convert(None).to_pydatetime()
            rows.append((pair, timeframe, begin, (at + step).tz_convert(None).to_pydatetime(), bar.open, bar.high,
                         bar.low, bar.close, bar.volume, bar.vwap, int(bar.trade_count), False, 0, None, "stream"))
    with store.writer(path) as con:
        store.upsert_candles(con, store.frame(rows, store.CANDLE_TABLE_COLUMNS))
    return frame
