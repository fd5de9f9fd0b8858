"""``history_complete``: a ``market_history`` partition holds every trade of its day, judged by trade id.

The venue numbers a pair's trades 1, 2, 3, ...: the day is complete when the import fetched
all of it (``history_days``) and no id between its first and last trade is missing from
``trades``. Ids the venue itself did not return (asked twice, ``history_gaps``) are listed;
the check then fails with severity WARN (nothing more can be had), and with ERROR when the
day was not fetched whole or ids are missing that the venue was never asked for.
"""


from datetime import date, datetime, timedelta

import dagster as dg
import duckdb
import pandas as pd

from tradestream.history import catalog
from tradestream_assets.history.assets import market_history, partition_day_pair
from tradestream_assets.history.partitions import history_partitions
from tradestream_assets.resources import DuckDBStore, HistoryResource

LISTED = 20


def judge_day(con: duckdb.DuckDBPyConnection, exchange: str, pair: str, day: date) -> dg.AssetCheckResult:
    """The check's verdict on ``pair``'s trades of ``day`` in the store."""
    start = datetime.combine(day, datetime.min.time())
    held = catalog.completeness(con, exchange, pair, start, start + timedelta(days=1))
    listed = {(s.first, s.last) for s in held.listed}
    gaps = pd.DataFrame([{"first id": s.first, "last id": s.last, "ids": len(s),
                          "missing at the venue": (s.first, s.last) in listed} for s in held.missing[:LISTED]])
    problems = []
    if not held.covered:
        problems.append(f"the import did not fetch all of {day}")
    if held.missing:
        problems.append(f"{held.missing_ids} trade id(s) missing in {len(held.missing)} gap(s)"
                        + (f", {len(held.unexplained)} of them never asked for twice" if held.unexplained else
                           ", each missing at the venue"))
    severity = dg.AssetCheckSeverity.WARN if held.covered and not held.unexplained else \
        dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        passed=not problems, severity=severity, description="; ".join(problems) or None,
        metadata={"trades": held.trades, "first_trade_id": held.first_id or 0, "last_trade_id": held.last_id or 0,
                  "missing_ids": held.missing_ids, "covered": held.covered,
                  "gaps": dg.MetadataValue.md(gaps.to_markdown(index=False) if not gaps.empty else "none")})


@dg.asset_check(asset=market_history, partitions_def=history_partitions, name="history_complete",
                description="Every trade id of the day is held, or listed as missing at the venue.")
def history_complete(context: dg.AssetCheckExecutionContext, duckdb: DuckDBStore,
                     history: HistoryResource) -> dg.AssetCheckResult:
    day, pair = partition_day_pair(context.partition_key)
    with duckdb.reader() as con:
        return judge_day(con, history.exchange, pair, day)


HISTORY_CHECKS = (history_complete,)
