"""Checks on each hourly ``candles`` partition.

* ``ohlc_invariants``: every bar has ``low <= open, close <= high`` and ``volume >= 0``.
* ``no_missing_minutes``: every active pair (one with trades in the hour) has a 1m bar for
  every closed minute from its first trade (or the hour's start when it traded before),
  since the pipeline fills quiet minutes forward.
* ``stream_batch_parity``: the 1m bars the stream produced equal the independent DuckDB
  SQL reference computed from the hour's stored trades.

They read DuckDB read-only and run in the same run as the partition they judge.
"""


from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from tradestream import store
from tradestream.candles.reference import candles_match, diff_candles
from tradestream_assets.partitions import hourly_partitions
from tradestream_assets.resources import DuckDBStore, KafkaResource, platform_settings
from tradestream_assets.warehouse.assets import candles
from tradestream_assets.warehouse.rebuild import late_trade_ids, reference_1m_candles, stored_candle_record, to_ns

MINUTE = timedelta(minutes=1)
#: A minute's bar is due once the minute closed, the allowed lateness passed and the stream emitted it.
EMISSION_GRACE = timedelta(minutes=2)
EXAMPLES = 10
#: Relative tolerance of the parity comparison: sums of float sizes may differ in the last bits by order.
PARITY_RTOL = 1e-9


def _window(context: dg.AssetCheckExecutionContext) -> tuple[datetime, datetime]:
    """The partition's hour, or the whole range of a single-run backfill."""
    window = context.partition_time_window
    return store.utc_naive(window.start), store.utc_naive(window.end)


def _md_table(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.head(EXAMPLES).to_markdown(index=False) if not frame.empty else "none")


@dg.asset_check(asset=candles, partitions_def=hourly_partitions, name="ohlc_invariants",
                description="low <= open, close <= high and volume >= 0 on every candle of the partition.")
def ohlc_invariants(context: dg.AssetCheckExecutionContext, duckdb: DuckDBStore) -> dg.AssetCheckResult:
    start, end = _window(context)
    with duckdb.reader() as con:
        bars = store.query_candles(con, start, end)
    body_low, body_high = bars[["open", "close"]].min(axis=1), bars[["open", "close"]].max(axis=1)
    bad = bars[(bars["low"] > body_low) | (bars["high"] < body_high) | (bars["low"] > bars["high"])
               | (bars["volume"] < 0)]
    return dg.AssetCheckResult(
        passed=bad.empty,
        metadata={"candles_checked": len(bars), "violations": len(bad),
                  "examples": _md_table(bad[["currency_pair", "timeframe", "window_start", "open", "high", "low",
                                             "close", "volume"]])},
        description=f"{len(bad)} of {len(bars)} candles break an OHLC invariant" if len(bad) else None)


def missing_minutes(trades: pd.DataFrame, bars_1m: pd.DataFrame, earlier_pairs: set[str], start: datetime,
                    end: datetime, now: datetime) -> dict[str, list[datetime]]:
    """Minutes without a 1m bar per active pair; a minute counts once it closed and EMISSION_GRACE passed."""
    last_due = min(end, (now - EMISSION_GRACE).replace(second=0, microsecond=0))
    out: dict[str, list[datetime]] = {}
    present = {pair: set(pd.to_datetime(g["window_start"]).dt.to_pydatetime())
               for pair, g in bars_1m.groupby("currency_pair")}
    for pair, pair_trades in trades.groupby("currency_pair"):
        first_trade = pd.Timestamp(pair_trades["event_time"].min()).to_pydatetime().replace(second=0, microsecond=0)
        minute = start if pair in earlier_pairs else first_trade
        have = present.get(pair, set())
        gaps = []
        while minute + MINUTE <= last_due:
            if minute not in have:
                gaps.append(minute)
            minute += MINUTE
        out[pair] = gaps
    return out


@dg.asset_check(asset=candles, partitions_def=hourly_partitions, name="no_missing_minutes",
                description="Every pair with trades in the hour has a 1m candle for each closed minute from its "
                            "first trade (from the hour's start when it traded earlier): quiet minutes are filled "
                            "forward, never left out.")
def no_missing_minutes(context: dg.AssetCheckExecutionContext, duckdb: DuckDBStore) -> dg.AssetCheckResult:
    start, end = _window(context)
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.reader() as con:
        hour_trades = store.query_trades(con, start, end)
        bars = store.query_candles(con, start, end, timeframes=["1m"])
        earlier = {row[0] for row in con.execute(
            "SELECT DISTINCT currency_pair FROM candles WHERE timeframe = '1m' AND window_start < ? "
            "AND window_start >= ?", [start, start - timedelta(hours=1)]).fetchall()}
    gaps = missing_minutes(hour_trades, bars, earlier, start, end, now)
    missing = {pair: len(g) for pair, g in gaps.items() if g}
    examples = pd.DataFrame([(pair, minute) for pair, g in gaps.items() for minute in g[:3]],
                            columns=["currency_pair", "missing_minute"])
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"active_pairs": len(gaps), "missing_minutes": sum(missing.values()),
                  "missing_by_pair": dg.MetadataValue.json(missing), "examples": _md_table(examples)},
        description=(f"{sum(missing.values())} minute(s) without a 1m candle across {len(missing)} pair(s)"
                     if missing else None))


@dg.asset_check(asset=candles, partitions_def=hourly_partitions, name="stream_batch_parity",
                description="The stream's 1m candles of the hour equal the independent DuckDB SQL reference over the "
                            "stored trades (minus those the stream dead-lettered as late, for bars the stream made), "
                            "field by field; volume "
                            "and vwap to 1e-12 relative.")
def stream_batch_parity(context: dg.AssetCheckExecutionContext, duckdb: DuckDBStore,
                        kafka: KafkaResource) -> dg.AssetCheckResult:
    start, end = _window(context)
    settings = platform_settings(kafka)
    lateness = timedelta(seconds=settings.pipeline.allowed_lateness_s)
    now = datetime.now(UTC).replace(tzinfo=None)
    # only minutes whose bar is final: closed, past the allowed lateness and emitted
    last_final = min(end, (now - EMISSION_GRACE - lateness).replace(second=0, microsecond=0))
    late = late_trade_ids(settings, start, end)
    with duckdb.reader() as con:
        reference = reference_1m_candles(con, start, last_final, settings.pipeline.fill_forward_cap_s, late)
        stored = store.query_candles(con, start, end, timeframes=["1m"])
        if late and (stored["source"] != "stream").any():
            # bars rebuilt from DuckDB trades (or imported) hold the late trades: compare those with all trades
            rebuilt = {(r.currency_pair, r.timeframe, to_ns(r.window_start))
                       for r in stored[stored["source"] != "stream"].itertuples()}
            everything = reference_1m_candles(con, start, last_final, settings.pipeline.fill_forward_cap_s)
            reference = [c for c in reference if c.key not in rebuilt] + [c for c in everything if c.key in rebuilt]
    stream = {c.key: c for c in (stored_candle_record(row) for _, row in stored.iterrows())}
    # compare on the reference's bars: it cannot know the filled minutes before a pair's first trade in the hour
    compared = [stream[c.key] for c in reference if c.key in stream]
    problems = diff_candles(compared, reference, limit=EXAMPLES)
    mismatched = sum(1 for c in reference if c.key not in stream or not candles_match(stream[c.key], c))
    return dg.AssetCheckResult(
        passed=not mismatched,
        metadata={"reference_candles": len(reference), "stream_candles": len(stream),
                  "late_trades_excluded": len(late), "mismatches": mismatched,
                  "examples": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in problems) or "none")},
        description=f"{mismatched} candle(s) differ from the SQL reference" if mismatched else None)


WAREHOUSE_CHECKS = [ohlc_invariants, no_missing_minutes, stream_batch_parity]
