"""History import throughput: the REST stand-in of Coinbase Exchange -> DuckDB with candles, against DuckDB's
own bulk insert of the same rows, same run.

The import is the real path end to end (``streaming.history.importer``): locating the range
by binary search over trade ids, 1000-trade pages over HTTP from the stand-in (its own
process, so it has a core of its own; its rate limit off and the client's raised, since a
benchmark of the venue's 10 requests a second would measure only the venue), parsing the
pages, checking ids, writing chunks with their progress in one transaction each, and
folding every UTC day into candles of all six timeframes. Timed from the first request to
the last candle written, on a fresh DuckDB file.

The baseline is DuckDB inserting the very rows the import wrote (read back into Arrow
first, not timed) into a fresh file with the same ``trades`` table, primary key included,
in one ``INSERT``: the fastest way those rows can land. Rounds alternate (import, bulk,
import, bulk, ...); the median of each is reported with their ratio.
Targets: import >= 0.5 x bulk, and >= 200,000 trades/s.

Usage: python benchmarks/history_import.py [--pairs 2] [--days 2] [--trades-per-day 500000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from streaming.history.importer import HistoryImporter
from streaming.venues.coinbase.history import CoinbaseHistoryClient
from tradestream import store
from tradestream.timeframes import TIMEFRAMES

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 0.5
TARGET_RATE = 200_000
FIRST_DAY = date(2025, 1, 1)
PAIRS = ("BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD")


def start_standin(pairs: list[str], days: int, per_day: int) -> tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.venues.coinbase.exchange_rest", "--pairs", ",".join(pairs), "--start",
         FIRST_DAY.isoformat(), "--days", str(days), "--trades-per-day", str(per_day)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    line = proc.stdout.readline().split()
    if len(line) < 3 or line[0] != "serving":
        proc.kill()
        raise SystemExit(f"the REST stand-in did not start: {line}")
    return proc, line[1], int(line[2])


def run_import(url: str, db: Path, pairs: list[str], days: int) -> tuple[float, int, int]:
    async def main():
        client = CoinbaseHistoryClient(url, rate_per_s=1e6, burst=10_000)
        try:
            importer = HistoryImporter(client, db, fill_cap_s=86_400, timeframes=TIMEFRAMES)
            started = time.perf_counter()
            reports = await importer.run(pairs, FIRST_DAY, FIRST_DAY + timedelta(days=days - 1))
            return time.perf_counter() - started, reports
        finally:
            await client.aclose()

    seconds, reports = asyncio.run(main())
    failed = [r for r in reports if not r.ok]
    if failed:
        raise SystemExit(f"import failed: {failed[0].error}")
    return seconds, sum(r.trades_new for r in reports), sum(r.candles for r in reports)


def run_bulk(source: Path, target: Path) -> tuple[float, int]:
    with store.reader(source) as con:
        rows = con.sql("SELECT * FROM trades").to_arrow_table()
    con = duckdb.connect(str(target))
    try:
        store.ensure_schema(con)
        con.execute("SET enable_progress_bar = false")
        started = time.perf_counter()
        con.execute("INSERT INTO trades SELECT * FROM rows")
        con.execute("CHECKPOINT")
        return time.perf_counter() - started, rows.num_rows
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2, help=f"how many of {', '.join(PAIRS)}")
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--trades-per-day", type=int, default=500_000, help="per pair")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    pairs = list(PAIRS[:args.pairs])
    proc, url, served = start_standin(pairs, args.days, args.trades_per_day)
    print(f"REST stand-in at {url}: {served:,} trades of {', '.join(pairs)} over {args.days} day(s)")
    imports, bulks = [], []
    try:
        with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
            for k in range(args.rounds):
                db = Path(tmp) / f"import-{k}.duckdb"
                seconds, trades, candles = run_import(url, db, pairs, args.days)
                imports.append(trades / seconds)
                bulk_seconds, rows = run_bulk(db, Path(tmp) / f"bulk-{k}.duckdb")
                if rows != trades + len(pairs) and rows != trades:
                    raise SystemExit(f"bulk inserted {rows} rows, the import wrote {trades}")
                bulks.append(rows / bulk_seconds)
                print(f"round {k + 1}: import {trades:,} trades + {candles:,} candles in {seconds:.2f} s = "
                      f"{imports[-1]:,.0f} trades/s; bulk insert {rows:,} rows in {bulk_seconds:.2f} s = "
                      f"{bulks[-1]:,.0f} rows/s")
                for path in Path(tmp).glob("*.duckdb*"):
                    path.unlink()
    finally:
        proc.terminate()
        proc.wait(10)
    rate, bulk = statistics.median(imports), statistics.median(bulks)
    ratio = rate / bulk
    print(f"\nhistory import: {rate:,.0f} trades/s (target >= {TARGET_RATE:,}); DuckDB bulk insert: {bulk:,.0f} rows/s")
    print(f"ratio import / bulk insert: {ratio:.2f} (target >= {TARGET_RATIO})")
    print("load average:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0 if ratio >= TARGET_RATIO and rate >= TARGET_RATE else 1


if __name__ == "__main__":
    sys.exit(main())
