"""``execution_matches_backtest``: hour by hour, every allocation's fills against a backtest of the same
candles, parameters and trading costs (``tradestream.execution.parity``).

For each allocation with fills in DuckDB and each complete hour of the last ``CHECK_HOURS`` (complete:
its candles are in DuckDB), the backtester runs from where the allocation was last flat with its cash
there, and its trades are lined up with the executed ones. ``candle_close`` fills must be equal
(prices, sizes, fees, P&L to 1e-9); ``next_trade`` and venue fills report what the difference cost
(basis points against the backtest, quote currency, latency) and fail beyond
``execution.max_live_cost_bps``. Signals the risk engine refused are taken out of the backtest (their
ids are in ``risk_events``): the comparison is of what the strategy did with what it was allowed.
"""


from datetime import datetime

import dagster as dg
import pandas as pd

from tradestream import store
from tradestream.execution.accounts import load_accounts
from tradestream.execution.parity import CANDLE_CLOSE, HISTORY_BARS, ParityReport, check_allocation
from tradestream.settings import Settings
from tradestream.strategies import get_strategy
from tradestream.timeframes import parse_timeframe
from tradestream_assets.execution.assets import newest_candle_close, portfolio
from tradestream_assets.resources import DuckDBStore

CHECK_NAME = "execution_matches_backtest"
CHECK_HOURS = 24
#: Denials that do not remove a strategy's signal from the backtest: a duplicate's first copy was executed.
NOT_REFUSALS = ("DUPLICATE_SIGNAL",)


def _candles(con, pair: str, timeframe: str, start: datetime, end: datetime) -> pd.DataFrame:
    c = store.query_candles(con, start, end, timeframes=[timeframe], pairs=[pair])
    c.index = pd.DatetimeIndex(pd.to_datetime(c["window_start"])).tz_localize("UTC")
    c.index.name = None
    return c[["open", "high", "low", "close", "volume"]].astype(float)


def parity_reports(con, settings: Settings, now: datetime | None = None,
                   hours: int = CHECK_HOURS) -> tuple[list[ParityReport], list[str]]:
    """Every (allocation, complete hour) report of the last ``hours`` and the notes on what was skipped."""
    newest = now or newest_candle_close(con)
    if newest is None:
        return [], ["no candles in DuckDB yet"]
    end = pd.Timestamp(newest).floor("h").tz_localize("UTC")
    start = end - pd.Timedelta(hours=hours)
    fills = store.query_fills(con, datetime(1970, 1, 1), end.tz_convert(None).to_pydatetime())
    if fills.empty:
        return [], ["no fills yet"]
    positions = store.query_positions(con, datetime(1970, 1, 1), end.tz_convert(None).to_pydatetime())
    snapshots = dict(zip(positions["last_fill_id"], positions["cash"], strict=True))
    starting = positions.groupby("allocation_id")["starting_cash"].first().to_dict()
    events = store.query_risk_events(con, datetime(1970, 1, 1), end.tz_convert(None).to_pydatetime())
    denied = events[(events["kind"] == "ORDER_DENIED") & ~events["reason"].isin(NOT_REFUSALS)]
    # a signal id names the strategy's signal, which every allocation running it shares: refusals are per allocation
    refused = denied.groupby("allocation_id")["signal_id"].agg(set).to_dict()
    allocations = {a.id: a for a in load_accounts(settings.execution.accounts_file).allocations()}
    reports, notes = [], []
    for allocation_id, mine in fills.groupby("allocation_id", sort=True):
        alloc = allocations.get(allocation_id)
        if alloc is None:
            notes.append(f"{allocation_id}: no longer in the accounts file, not compared")
            continue
        spec = get_strategy(alloc.entry.strategy)
        bar = parse_timeframe(alloc.timeframe).timedelta
        history = HISTORY_BARS + spec.window(spec.space.validate(dict(alloc.entry.params)))
        first_fill = pd.Timestamp(mine["fill_time"].min()).tz_localize("UTC")
        # candles once per allocation: from well before the earliest anchor the hours can have
        since = min(first_fill - bar, start) - history * bar - pd.Timedelta(days=1)
        candles = _candles(con, alloc.pair, alloc.timeframe, since.tz_convert(None).to_pydatetime(),
                           end.tz_convert(None).to_pydatetime())
        fill_time = pd.to_datetime(mine["fill_time"]).dt.tz_localize("UTC")
        for h in range(hours):
            window = (start + pd.Timedelta(hours=h), start + pd.Timedelta(hours=h + 1))
            if window[1] <= first_fill.floor("h"):
                continue
            report = check_allocation(
                allocation_id, alloc.entry.strategy, alloc.entry.params, alloc.pair, alloc.timeframe,
                alloc.backtest_config(), mine[fill_time < window[1]],
                lambda a, b, c=candles: c[(c.index >= a) & (c.index < b)], window,
                starting_cash=float(starting.get(allocation_id, alloc.cash)), snapshots=snapshots,
                refused=refused.get(allocation_id, set()))
            reports.append(report)
    return reports, notes


def evaluate(reports: list[ParityReport], notes: list[str], max_cost_bps: float) -> dg.AssetCheckResult:
    failed = [r for r in reports if not r.passed(max_cost_bps)]
    per_allocation: dict[str, dict] = {}
    for r in reports:
        row = per_allocation.setdefault(r.allocation_id, {"fill_model": r.fill_model, "hours": 0, "legs": 0,
                                                          "hours_failed": 0, "refused_signals": 0, "costs_bps": []})
        row["hours"] += 1
        row["legs"] += r.legs_compared
        row["hours_failed"] += not r.passed(max_cost_bps)
        row["refused_signals"] = max(row["refused_signals"], r.refused_signals)
        if r.cost_bps is not None:
            row["costs_bps"].append(r.cost_bps)
    lines = ["| allocation | fill model | hours | legs compared | hours failed | mean cost (bps) |",
             "|---|---|---:|---:|---:|---:|"]
    for allocation_id, row in per_allocation.items():
        cost = sum(row["costs_bps"]) / len(row["costs_bps"]) if row["costs_bps"] else None
        lines.append(f"| {allocation_id} | {row['fill_model']} | {row['hours']} | {row['legs']} | "
                     f"{row['hours_failed']} | {'' if cost is None else f'{cost:.2f}'} |")
    problems = []
    for r in failed[:20]:
        what = r.missing and f"backtest legs not executed: {r.missing[:3]}" or \
            r.extra and f"executed legs the backtest lacks: {r.extra[:3]}" or \
            r.mismatches and f"differences: {r.mismatches[:3]}" or \
            f"cost {r.cost_bps:.2f} bps > {max_cost_bps:g} bps"
        problems.append(f"{r.allocation_id} hour {r.window[0]:%Y-%m-%d %H:%M}: {what}")
    compared = sum(r.legs_compared for r in reports)
    description = ("; ".join(problems) if problems else
                   f"{compared} legs in {len(reports)} allocation-hours equal the backtest"
                   + (" (candle_close) or within the cost bound" if any(r.fill_model != CANDLE_CLOSE for r in reports)
                      else ""))
    return dg.AssetCheckResult(
        passed=not failed, description=description[:2000],
        metadata={"allocations": dg.MetadataValue.md("\n".join(lines)),
                  "allocation_hours": dg.MetadataValue.int(len(reports)),
                  "hours_failed": dg.MetadataValue.int(len(failed)),
                  "legs_compared": dg.MetadataValue.int(compared),
                  "max_cost_bps": dg.MetadataValue.float(max_cost_bps),
                  "notes": dg.MetadataValue.text("; ".join(notes) or "-"),
                  "failures": dg.MetadataValue.json(problems)})


@dg.asset_check(asset=portfolio, name=CHECK_NAME,
                description="Each hour of the last 24, for every allocation: the backtester on the same candles and "
                            "parameters, trade by trade against the fills. candle_close: equal to 1e-9; next_trade "
                            "and venue fills: the cost against the backtest within execution.max_live_cost_bps.")
def execution_matches_backtest(duckdb: DuckDBStore) -> dg.AssetCheckResult:
    settings = Settings.load()
    with duckdb.reader() as con:
        reports, notes = parity_reports(con, settings)
    return evaluate(reports, notes, settings.execution.max_live_cost_bps)


EXECUTION_CHECKS = [execution_matches_backtest]
