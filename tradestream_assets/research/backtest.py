"""The ``backtest`` job: launched from the Launchpad with typed, documented config.

It checks the whole config before touching any data, so a bad strategy name, an empty
date range or a parameter out of range fails the run at once with a message naming the
field. It then backtests the strategy on each pair's candles from DuckDB, writes one row
per pair to the ``backtest_results`` table and reports the metrics (a markdown table)
and the equity curves (charts shown inline) as metadata of the ``backtest_results``
asset, visible on the run and on the asset's page.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd
from pydantic import Field, ValidationError

from tradestream.params import ParamValue
from tradestream.settings import IngestionSettings
from tradestream.timeframes import TIMEFRAMES
from tradestream_assets.research.charts import chart_metadata, metrics_markdown
from tradestream_assets.resources import DuckDBStore, StreamSupervisor

if TYPE_CHECKING:
    from tradestream.backtest import BacktestConfig

# The backtester and the strategy library (numba, pandas-ta) are imported where a backtest runs:
# every run worker loads this module, few run backtests.

GROUP = "research"

backtest_results = dg.AssetSpec(
    "backtest_results", group_name=GROUP, kinds={"duckdb"}, deps=["candles", "market_history"],
    description="DuckDB table `backtest_results`: one row per backtest run and pair (strategy, parameters, "
                "range, trading assumptions, metrics). Written by the `backtest` job.")


class BacktestLaunchConfig(dg.Config):
    """One backtest: a strategy with parameters on some pairs' candles from DuckDB."""

    strategy: str = Field(description="Strategy name, e.g. MACD_CROSSOVER; `tradestream strategies list` shows all 60.")
    parameters: dict[str, float] = Field(
        default_factory=dict,
        description="Parameter values, e.g. {fast: 10, slow: 24}; parameters left out take their defaults. "
                    "Each must lie in the strategy's range (`tradestream strategies show NAME`).")
    pairs: list[str] = Field(default_factory=lambda: ["BTC-USD"],
                             description="Currency pairs, e.g. [BTC-USD, ETH-USD].")
    timeframe: str = Field("1m", description=f"Candle timeframe, one of {list(TIMEFRAMES)}.")
    start: str = Field(description="First candle time (UTC, ISO 8601), e.g. 2026-11-20 or 2026-11-20T06:00.")
    end: str = Field(description="End of the range, exclusive (UTC); a date alone includes that whole day.")
    fees: float = Field(0.001, description="Fee per side as a fraction of traded value (0.001 = 0.1 %).")
    slippage_bps: float = Field(0.0, description="Slippage in basis points, against the trader on every fill.")
    cash: float = Field(10_000.0, description="Starting cash in quote currency.")
    allow_gaps: bool = Field(False, description="Trade across missing candles instead of refusing the range.")


@dataclass(frozen=True)
class CheckedBacktest:
    strategy: str
    params: dict[str, ParamValue]
    pairs: list[str]
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    trading: "BacktestConfig"


def candle_lineage(db_path: Path, pairs: list[str], timeframe: str, start, end) -> dict[str, dg.MetadataValue]:
    """Which ranges of the candles read came from imported history and which from the live stream: a table for
    the run's metadata and the sources in one line (``tradestream.backtest.candles.candle_sources``)."""
    from tradestream.backtest.candles import candle_sources

    frames = []
    for pair in pairs:
        runs = candle_sources(db_path, pair, timeframe, start, end)
        frames.append(runs.assign(pair=pair)[["pair", "source", "first", "last", "bars"]])
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    sources = sorted(set(table["source"])) if not table.empty else []
    return {"candle_sources": dg.MetadataValue.md(table.to_markdown(index=False) if not table.empty else "none"),
            "sources": dg.MetadataValue.text(", ".join(sources) or "none")}


def bad_config(field: str, message: str) -> dg.Failure:
    return dg.Failure(description=f"backtest config field `{field}`: {message}",
                      metadata={"field": dg.MetadataValue.text(field)}, allow_retries=False)


def check_config(config: BacktestLaunchConfig) -> CheckedBacktest:
    """The config, validated field by field; raises a Failure naming the first bad field."""
    from tradestream.backtest import BacktestConfig, BacktestInputError, parse_range
    from tradestream.params import ParameterError
    from tradestream.strategies import UnknownStrategyError, get_strategy

    try:
        spec = get_strategy(config.strategy)
    except UnknownStrategyError as exc:
        raise bad_config("strategy", str(exc)) from None
    try:
        params = spec.space.validate(config.parameters)
    except ParameterError as exc:
        raise bad_config("parameters", str(exc)) from None
    if not config.pairs:
        raise bad_config("pairs", "no pairs given; name at least one, e.g. [BTC-USD]")
    try:
        IngestionSettings(products=list(config.pairs))
    except ValidationError as exc:
        raise bad_config("pairs", exc.errors()[0]["msg"]) from None
    if config.timeframe not in TIMEFRAMES:
        raise bad_config("timeframe", f"{config.timeframe!r} is not one of {list(TIMEFRAMES)}")
    try:
        window = parse_range(config.start, config.end)
    except BacktestInputError as exc:
        raise bad_config("start/end", str(exc)) from None
    try:
        trading = BacktestConfig(cash=config.cash, fees=config.fees, slippage_bps=config.slippage_bps)
    except BacktestInputError as exc:
        field = next((f for f in ("fees", "slippage_bps", "cash") if str(exc).startswith(f)), "fees")
        raise bad_config(field, str(exc)) from None
    return CheckedBacktest(spec.name, params, list(dict.fromkeys(config.pairs)), config.timeframe, window.start,
                           window.end, trading)


@dg.op(pool="duckdb_writer", tags={"kind": "backtest"},
       description="Check the config, backtest each pair on DuckDB candles, store and report the results.")
def run_backtest_op(context: dg.OpExecutionContext, config: BacktestLaunchConfig, duckdb: DuckDBStore,
                    supervisor: StreamSupervisor) -> dg.Output[pd.DataFrame]:
    from tradestream.backtest import BacktestInputError, load_candles, run_strategy
    from tradestream.backtest.results import result_rows, write_results

    checked = check_config(config)
    context.log.info(f"backtesting {checked.strategy} {checked.params} on {checked.pairs} {checked.timeframe} "
                     f"[{checked.start}, {checked.end})")
    out_dir = supervisor.paths().home / "backtests" / context.run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, dict[str, float]] = {}
    charts: list[tuple[str, Path]] = []
    runs = []
    for pair in checked.pairs:
        try:
            candles = load_candles(duckdb.db_path, pair, checked.timeframe, checked.start, checked.end)
            run = run_strategy(candles, checked.strategy, checked.params, checked.trading,
                               timeframe=checked.timeframe, allow_gaps=config.allow_gaps)
        except BacktestInputError as exc:
            raise dg.Failure(description=f"backtest of {pair}: {exc}", allow_retries=False) from None
        runs.append((pair, run))
        metrics[pair] = run.metrics.as_dict()
        charts.append((f"{checked.strategy} {pair} {checked.timeframe}",
                       run.plot(out_dir / f"equity-{pair}.png", title=f"{checked.strategy} on {pair}")))
    rows = result_rows(runs, run_id=context.run_id)
    with duckdb.writer() as con:
        write_results(con, rows)
    frame = pd.DataFrame(rows)
    metadata = {
        "strategy": dg.MetadataValue.text(checked.strategy),
        "parameters": dg.MetadataValue.json(checked.params),
        "range": dg.MetadataValue.text(f"[{checked.start.isoformat()}, {checked.end.isoformat()})"),
        "metrics": dg.MetadataValue.md(metrics_markdown(metrics)),
        **candle_lineage(duckdb.db_path, checked.pairs, checked.timeframe, checked.start, checked.end),
        **chart_metadata(charts),
        "rows_written": dg.MetadataValue.int(len(rows)),
        **{f"{pair} sharpe": dg.MetadataValue.float(round(m["sharpe"], 4)) for pair, m in metrics.items()},
        **{f"{pair} total_return": dg.MetadataValue.float(round(m["total_return"], 6)) for pair, m in metrics.items()},
    }
    context.log_event(dg.AssetMaterialization(asset_key=backtest_results.key, metadata=metadata,
                                              description=f"{checked.strategy} on {', '.join(checked.pairs)}"))
    return dg.Output(frame, metadata={"rows_written": len(rows)})


@dg.job(tags={"tradestream/duckdb-writer": "backtest"},
        description="Backtest a strategy with given parameters on DuckDB candles; open the Launchpad to set "
                    "strategy, parameters, pairs, timeframe, date range, fees and slippage.")
def backtest() -> None:
    run_backtest_op()
