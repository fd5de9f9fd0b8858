"""What the executor did, in DuckDB: hourly partitions of ``orders``, ``fills``, ``positions`` and
``risk_events`` from their Kafka topics, and the ``portfolio`` (equity and drawdown per account and
allocation, with a chart).

The hourly assets work like the warehouse's (``tradestream_assets/warehouse/assets.py``): the hour is
read from the topic by Kafka time with slack for late records (read_committed: aborted transactions
of a killed executor never show), filtered by the record's own time (an order's latest status, a
fill's time, a snapshot's ``as_of``, an event's time) and upserted on the table's key, so a partition
materialized twice holds the same rows.

``portfolio`` marks every allocation to market at each candle close of the last ``lookback_hours``
(``tradestream.execution.portfolio``) and writes the curve to the DuckDB ``portfolio`` table; its
metadata shows a table per account and allocation and a chart: each allocation's candles with its
buys and sells marked, its equity underneath, and the accounts' equity and drawdown. The check
``execution_matches_backtest`` (``checks.py``) judges it. Lineage: signals -> fills -> portfolio.
"""


from collections.abc import Callable
from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
from pydantic import Field

from streaming.kafka.ranges import read_time_range
from tradestream import store
from tradestream.execution.chart import plot_portfolio
from tradestream.execution.portfolio import portfolio_curves, summary
from tradestream.v1 import execution_pb2
from tradestream_assets.partitions import hourly_partitions
from tradestream_assets.research.charts import image_markdown
from tradestream_assets.resources import DuckDBStore, KafkaResource, StreamSupervisor
from tradestream_assets.warehouse.assets import BARS_LATE, SINGLE_RUN, WRITER_POOL, HourlyTotals, hours

GROUP = "execution"
#: Records are published when the executor decides, shortly after the signal's candle closed (event time);
#: read this much before the hour too, for an executor whose clock runs a little ahead of the broker's.
EARLY = timedelta(minutes=5)


def _decoder(message_type, to_row: Callable):
    def decode(_key: bytes | None, value: bytes | None):
        if not value:
            raise ValueError("empty record value")
        return to_row(message_type.FromString(value))

    return decode


def _hourly(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore, topic: str, decode,
            columns, time_field: str, upsert, query) -> dg.MaterializeResult:
    totals = HourlyTotals(topic)
    for start, end in hours(context):
        read = read_time_range(kafka.client(), topic, start - EARLY, end + BARS_LATE, decode)
        totals.add_read(start, read)
        rows = store.frame((r for r in read.records if start <= _naive(getattr(r, time_field)) < end), columns)
        with duckdb.writer() as con:
            totals.add_upsert(upsert(con, rows))
    totals.warn(context)
    first, last = hours(context)[0][0], hours(context)[-1][1]
    with duckdb.reader() as con:
        stored = query(con, first, last)
    meta = totals.metadata(len(stored))
    if "account" in stored.columns and len(stored):
        meta["rows_by_account"] = dg.MetadataValue.json(
            {k: int(v) for k, v in stored.groupby("account").size().sort_index().items()})
    return dg.MaterializeResult(metadata=meta)


def _naive(value) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_convert(None) if stamp.tzinfo else stamp).to_pydatetime()


HOURLY = dict(partitions_def=hourly_partitions, backfill_policy=SINGLE_RUN, pool=WRITER_POOL, group_name=GROUP,
              kinds={"duckdb", "kafka"})


@dg.asset(**HOURLY, deps=[dg.AssetKey("execution_stream")],
          description="The executor's orders whose latest status falls in the hour, from Kafka `orders`; one row per "
                      "client order id (its latest status).")
def orders(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore) -> dg.MaterializeResult:
    return _hourly(context, kafka, duckdb, kafka.kafka_settings().orders_topic,
                   _decoder(execution_pb2.Order, store.order_row), store.ORDER_TABLE_COLUMNS, "updated_at",
                   store.upsert_orders, store.query_orders)


@dg.asset(**HOURLY, deps=[dg.AssetKey("execution_stream"), dg.AssetKey("signals")],
          description="Fills of the hour (by fill time) from Kafka `fills`: price with slippage, size, fee, realized "
                      "P&L, fill model; one row per fill id.")
def fills(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore) -> dg.MaterializeResult:
    return _hourly(context, kafka, duckdb, kafka.kafka_settings().fills_topic,
                   _decoder(execution_pb2.Fill, store.fill_row), store.FILL_TABLE_COLUMNS, "fill_time",
                   store.upsert_fills, store.query_fills)


@dg.asset(**HOURLY, deps=[dg.AssetKey("execution_stream")],
          description="Each allocation's position after each fill of the hour (units, cash, equity, realized P&L), "
                      "from Kafka `positions`.")
def positions(context: dg.AssetExecutionContext, kafka: KafkaResource, duckdb: DuckDBStore) -> dg.MaterializeResult:
    return _hourly(context, kafka, duckdb, kafka.kafka_settings().positions_topic,
                   _decoder(execution_pb2.PositionSnapshot, store.position_row), store.POSITION_TABLE_COLUMNS,
                   "as_of", store.upsert_positions, store.query_positions)


@dg.asset(**HOURLY, deps=[dg.AssetKey("execution_stream")],
          description="Risk events of the hour from Kafka `risk.events`: orders denied (with the reason code), "
                      "inputs rejected, account status changes, halts and resumes.")
def risk_events(context: dg.AssetExecutionContext, kafka: KafkaResource,
                duckdb: DuckDBStore) -> dg.MaterializeResult:
    return _hourly(context, kafka, duckdb, kafka.kafka_settings().risk_events_topic,
                   _decoder(execution_pb2.RiskEvent, store.risk_event_row), store.RISK_EVENT_TABLE_COLUMNS,
                   "event_time", store.upsert_risk_events, store.query_risk_events)


EXECUTION_TABLE_ASSETS = (orders, fills, positions, risk_events)


# --------------------------------------------------------------------------- portfolio


class PortfolioConfig(dg.Config):
    lookback_hours: int = Field(24, ge=1, le=24 * 90, description="Hours of curve to compute, up to the newest "
                                                                  "candle in DuckDB.")


def candle_closes(con, pair: str, timeframe: str, start: datetime, end: datetime) -> pd.Series:
    """Closes of ``pair``/``timeframe`` by window start (UTC) for bars closing in ``(start, end]``."""
    c = store.query_candles(con, start, end, timeframes=[timeframe], pairs=[pair])
    index = pd.DatetimeIndex(pd.to_datetime(c["window_start"])).tz_localize("UTC")
    return pd.Series(c["close"].to_numpy(dtype=float), index=index, name="close")


def newest_candle_close(con) -> datetime | None:
    return con.execute("SELECT max(window_end) FROM candles").fetchone()[0]


@dg.asset(group_name=GROUP, pool=WRITER_POOL, kinds={"duckdb", "python"},
          deps=[fills, positions, dg.AssetKey("candles")],
          description="Equity and drawdown of every account and allocation at each candle close of the last hours "
                      "(DuckDB table `portfolio`), with a chart: candle closes with the strategy's buys and sells "
                      "marked, equity underneath.")
def portfolio(context: dg.AssetExecutionContext, config: PortfolioConfig, duckdb: DuckDBStore,
              supervisor: StreamSupervisor) -> dg.MaterializeResult:
    with duckdb.reader() as con:
        newest = newest_candle_close(con)
        if newest is None:
            return dg.MaterializeResult(metadata={"note": dg.MetadataValue.text("no candles in DuckDB yet"),
                                                  "dagster/row_count": dg.MetadataValue.int(0)})
        end = newest + timedelta(microseconds=1)
        start = end - timedelta(hours=config.lookback_hours)
        snaps = store.query_positions(con, datetime(1970, 1, 1), end)
        traded = store.query_fills(con, start, end)
        curves = portfolio_curves(snaps, lambda pair, tf: candle_closes(con, pair, tf, start, end))
    with duckdb.writer() as con:
        written = store.replace_portfolio(con, curves, start, end)
    meta: dict[str, dg.MetadataValue] = {
        "window": dg.MetadataValue.text(f"{start:%Y-%m-%d %H:%M} .. {newest:%Y-%m-%d %H:%M} UTC"),
        "dagster/row_count": dg.MetadataValue.int(written),
        "fills_in_window": dg.MetadataValue.int(len(traded)),
    }
    if curves.empty:
        meta["note"] = dg.MetadataValue.text("no positions yet: the executor has not filled an order")
        return dg.MaterializeResult(metadata=meta)
    table = summary(curves)
    meta["portfolio"] = dg.MetadataValue.md(_summary_markdown(table))
    chart = plot_portfolio(curves, traded, supervisor.paths().home / "charts" / "portfolio.png",
                           title=f"portfolio, {start:%Y-%m-%d %H:%M} to {newest:%H:%M} UTC")
    meta["chart"] = dg.MetadataValue.md(image_markdown(chart, "candles with fills, equity underneath"))
    meta["chart_file"] = dg.MetadataValue.path(str(chart))
    for row in table.itertuples():
        if row.allocation == "(account)":
            meta[f"equity {row.account}"] = dg.MetadataValue.float(round(float(row.equity), 2))
            meta[f"max_drawdown {row.account}"] = dg.MetadataValue.float(round(float(row.max_drawdown), 6))
    return dg.MaterializeResult(metadata=meta)


def _summary_markdown(table: pd.DataFrame) -> str:
    lines = ["| account | allocation | equity | return | max drawdown |", "|---|---|---:|---:|---:|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['account']} | {r['allocation']} | {r['equity']:,.2f} | {r['return']:+.3%} | "
                     f"{r['max_drawdown']:.3%} |")
    return "\n".join(lines)


EXECUTION_ASSETS = (*EXECUTION_TABLE_ASSETS, portfolio)
