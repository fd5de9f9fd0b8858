"""``market_history``: a day of one pair's trades imported from the exchange's REST API, and its candles.

Each partition (UTC day x pair) runs the history import runner (``streaming/history``) for
that day: trades to DuckDB ``trades`` (``source = 'history'``), candles of every timeframe
folded from them by the live stream's rules to ``candles`` (``source = 'history'``), with
the progress kept in DuckDB so a failed run's retry fetches only what is missing. The
``history_complete`` check (``checks.py``) judges each partition by trade id.

Backfill six months of BTC-USD from the UI: Assets -> market_history -> Materialize ->
pick the date range and the pair; every partition is a run, shown on the backfill's page.
"""


import asyncio
import time
from datetime import date, datetime, timedelta

import dagster as dg

from streaming.history.importer import HistoryImporter, PairReport
from tradestream.history import catalog
from tradestream_assets.history.partitions import DATE, PAIR, history_partitions
from tradestream_assets.resources import DuckDBStore, HistoryResource, load_settings

GROUP = "history"
WRITER_POOL = "duckdb_writer"
LOG_EVERY_S = 5.0


class _RunLog:
    """Progress of the partition in the run's log, at most every few seconds."""

    def __init__(self, context: dg.AssetExecutionContext):
        self.context = context
        self.total = 1
        self.done = 0
        self.last = 0.0

    def start(self, pair: str, total: int, done: int, unit: str) -> None:
        self.total, self.done, self.unit = max(total, 1), done, unit
        self.context.log.info(f"{pair}: {total:,} {unit} to hold, {done:,} held already")

    def advance(self, pair: str, amount: int, report: PairReport) -> None:
        self.done += amount
        if time.monotonic() - self.last >= LOG_EVERY_S:
            self.last = time.monotonic()
            self.context.log.info(f"{pair}: {self.done:,} of {self.total:,} {self.unit} "
                                  f"({100 * self.done / self.total:.0f} %), {report.pages} pages, "
                                  f"{report.trades_fetched:,} trades")

    def finish(self, pair: str, report: PairReport) -> None:
        pass


def partition_day_pair(key: dg.MultiPartitionKey | str) -> tuple[date, str]:
    keys = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else dict(
        zip((DATE, PAIR), str(key).split("|"), strict=True))
    return date.fromisoformat(keys[DATE]), keys[PAIR]


async def _import(importer: HistoryImporter, client, pair: str, day: date) -> PairReport:
    try:
        (report,) = await importer.run([pair], day, day, "trades")
        return report
    finally:
        await client.aclose()


@dg.asset(partitions_def=history_partitions, group_name=GROUP, kinds={"duckdb"}, pool=WRITER_POOL,
          description="One UTC day of one pair's trades from the exchange's REST API (Coinbase: by trade id), with "
                      "candles of every timeframe folded from them by the live stream's rules. Resumable; "
                      "judged complete by trade id (history_complete).")
def market_history(context: dg.AssetExecutionContext, duckdb: DuckDBStore,
                   history: HistoryResource) -> dg.MaterializeResult:
    day, pair = partition_day_pair(context.partition_key)
    settings = load_settings()
    client = history.client()
    importer = HistoryImporter(client, duckdb.db_path, fill_cap_s=settings.pipeline.fill_forward_cap_s,
                               timeframes=settings.pipeline.timeframes, progress=_RunLog(context),
                               lock_timeout_s=duckdb.lock_timeout_s)
    report = asyncio.run(_import(importer, client, pair, day))
    figures = {"pages": report.pages, "trades": report.trades_fetched, "trades_new": report.trades_new,
               "duplicates_dropped": report.duplicates, "candles_written": report.candles, "gaps": report.gaps,
               "missing_ids": report.missing_ids, "seconds": round(report.seconds, 2)}
    if not report.ok:
        raise dg.Failure(description=f"{pair} {day}: {report.error}", metadata=figures,
                         allow_retries="unknown product" not in (report.error or ""))
    start = datetime.combine(day, datetime.min.time())
    with duckdb.reader() as con:
        held = catalog.completeness(con, client.exchange, pair, start, start + timedelta(days=1))
    return dg.MaterializeResult(metadata={
        **figures,
        "source": dg.MetadataValue.text(f"{client.exchange} REST {getattr(client, 'rest_url', '')}".strip()),
        "already_held": dg.MetadataValue.bool(report.days_skipped == 1),
        "trades_held": held.trades, "first_trade_id": held.first_id or 0, "last_trade_id": held.last_id or 0,
        "dagster/row_count": held.trades})


HISTORY_ASSETS = (market_history,)
