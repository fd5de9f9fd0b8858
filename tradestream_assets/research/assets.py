"""``strategy_optimization`` (per pair) -> ``walk_forward_report`` (per pair) -> ``live_strategy_config``.

* ``strategy_optimization`` searches each candidate strategy's parameters on the pair's
  recent candles from DuckDB with the GA (Optuna studies kept under ``<home>/optuna``,
  so a rerun on the same data resumes), and stores the best run in ``backtest_results``.
* ``walk_forward_report`` validates the search out of sample (walk-forward folds,
  deflated Sharpe) and approves the strategies that pass, with the optimization's best
  parameters. Each pair's report is also written to ``<home>/research/walk_forward/``.
* ``live_strategy_config`` turns the approved strategies of every pair into the active
  strategy set file that ``signals_stream`` runs, with a provenance file naming, for each
  entry, the candles (pair, timeframe, range), the optimization study and the Dagster
  runs behind it. Until a strategy has passed, a small documented fallback set runs.

So the asset graph reads: candles -> strategy_optimization -> walk_forward_report ->
live_strategy_config -> signals_stream -> signals.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd
from pydantic import Field

from tradestream_assets.partitions import pair_partitions
from tradestream_assets.research.backtest import candle_lineage
from tradestream_assets.resources import DuckDBStore, StreamSupervisor
from tradestream_assets.streams.specs import live_config_path

if TYPE_CHECKING:
    from tradestream.strategies.config import ActiveEntry

# The backtester and the strategy library (numba, pandas-ta, optuna) are imported inside the
# functions that use them: every run worker loads this module, most never run research.

GROUP = "research"
DEFAULT_CANDIDATES = ["MACD_CROSSOVER", "DOUBLE_EMA_CROSSOVER", "SMA_RSI"]
#: What runs live before any strategy has passed walk-forward: a few well-known strategies with defaults.
FALLBACK_STRATEGIES = ["MACD_CROSSOVER", "DOUBLE_EMA_CROSSOVER", "SMA_RSI", "RSI_EMA_CROSSOVER"]


class OptimizationConfig(dg.Config):
    strategies: list[str] = Field(default_factory=lambda: list(DEFAULT_CANDIDATES),
                                  description="Candidate strategies to optimize for the pair.")
    timeframe: str = Field("5m", description="Candle timeframe to optimize on.")
    lookback_days: float = Field(7.0, description="History used: this many days up to the last full hour.")
    end: str | None = Field(None, description="End of the history (UTC, ISO 8601); default the last full hour.")
    population: int = Field(20, description="GA population per generation.")
    generations: int = Field(10, description="GA generations (a total: a rerun on the same data resumes).")
    objective: str = Field("sharpe", description="What the search maximizes: sharpe, score, sortino, calmar, ...")
    fees: float = Field(0.001, description="Fee per side (0.001 = 0.1 %).")
    slippage_bps: float = Field(1.0, description="Slippage in basis points.")


class WalkForwardSettings(dg.Config):
    folds: int = Field(4, description="Out-of-sample folds.")
    in_sample_ratio: float = Field(3.0, description="In-sample length / out-of-sample length.")
    min_oos_sharpe: float = Field(0.5, description="Mean out-of-sample Sharpe a strategy needs to pass.")
    max_degradation: float = Field(0.5, description="Largest allowed 1 - OOS Sharpe / IS Sharpe.")
    min_folds: int = Field(3, description="Folds a strategy needs to pass.")
    population: int = Field(12, description="GA population inside each fold.")
    generations: int = Field(5, description="GA generations inside each fold.")


def _history(config: OptimizationConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    if config.end:
        end = pd.Timestamp(config.end)
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    else:
        end = pd.Timestamp(datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
    if config.lookback_days <= 0:
        raise dg.Failure(description=f"optimization config field `lookback_days`: {config.lookback_days} must be > 0",
                         allow_retries=False)
    return end - pd.Timedelta(days=config.lookback_days), end


def _candles(duckdb: DuckDBStore, pair: str, timeframe: str, start, end) -> pd.DataFrame:
    from tradestream.backtest import BacktestInputError, load_candles

    try:
        return load_candles(duckdb.db_path, pair, timeframe, start, end)
    except BacktestInputError as exc:
        raise dg.Failure(description=f"no history to optimize {pair} on: {exc}", allow_retries=False) from None


def _params_md(params: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


@dg.asset(partitions_def=pair_partitions, group_name=GROUP, kinds={"optuna", "duckdb"}, pool="duckdb_writer",
          deps=[dg.AssetDep("candles", partition_mapping=dg.AllPartitionMapping()),
                dg.AssetDep("market_history", partition_mapping=dg.AllPartitionMapping())],
          description="GA search of each candidate strategy's parameters on the pair's recent DuckDB candles "
                      "(live and imported history alike).")
def strategy_optimization(context: dg.AssetExecutionContext, config: OptimizationConfig, duckdb: DuckDBStore,
                          supervisor: StreamSupervisor) -> dg.Output[dict]:
    from tradestream.backtest import BacktestConfig, run_strategy
    from tradestream.backtest.optimize import GAConfig, optimize
    from tradestream.backtest.results import result_rows, write_results
    from tradestream.strategies import UnknownStrategyError, get_strategy

    pair = context.partition_key
    for name in config.strategies:
        try:
            get_strategy(name)
        except UnknownStrategyError as exc:
            raise dg.Failure(description=f"optimization config field `strategies`: {exc}", allow_retries=False) \
                from None
    start, end = _history(config)
    candles = _candles(duckdb, pair, config.timeframe, start, end)
    trading = BacktestConfig(fees=config.fees, slippage_bps=config.slippage_bps)
    home = supervisor.paths().home
    results: dict[str, dict] = {}
    runs = []
    for name in config.strategies:
        search = optimize(candles, name, pair=pair, timeframe=config.timeframe, objective=config.objective,
                          config=trading, ga=GAConfig(population=config.population, generations=config.generations),
                          storage_dir=home / "optuna", allow_gaps=True)
        best = run_strategy(candles, name, search.best_params, trading, timeframe=config.timeframe, allow_gaps=True)
        runs.append((pair, best))
        results[get_strategy(name).name] = {
            "best_params": search.best_params, "best_value": search.best_value, "metrics": search.best_metrics,
            "study_name": search.study_name, "storage_path": str(search.storage_path), "trials": search.n_trials}
        context.log.info(f"{name} on {pair}: best {config.objective} {search.best_value:.3f} with "
                         f"{_params_md(search.best_params)} ({search.n_trials} trials)")
    rows = result_rows(runs, run_id=f"{context.run_id}:optimize", kind="optimize")
    with duckdb.writer() as con:
        write_results(con, rows)
    report = {"pair": pair, "timeframe": config.timeframe, "start": start.isoformat(), "end": end.isoformat(),
              "candles": len(candles), "objective": config.objective, "fees": config.fees,
              "slippage_bps": config.slippage_bps, "run_id": context.run_id, "strategies": results}
    table = ["| strategy | best " + config.objective + " | parameters | trials | study |", "|---|---:|---|---:|---|"]
    table += [f"| {n} | {r['best_value']:.3f} | {_params_md(r['best_params'])} | {r['trials']} | "
              f"`{r['study_name']}` |" for n, r in results.items()]
    return dg.Output(report, metadata={
        "candles": dg.MetadataValue.text(f"{pair} {config.timeframe} [{start.isoformat()}, {end.isoformat()}): "
                                         f"{len(candles)} bars"),
        **candle_lineage(duckdb.db_path, [pair], config.timeframe, start, end),
        "best": dg.MetadataValue.md("\n".join(table)),
        "strategies": len(results)})


def reports_dir(home: Path) -> Path:
    return home / "research" / "walk_forward"


@dg.asset(partitions_def=pair_partitions, group_name=GROUP, kinds={"optuna"},
          description="Walk-forward validation of each optimized strategy; approves those that hold up out of "
                      "sample (min out-of-sample Sharpe, max degradation, min folds) with their best parameters.")
def walk_forward_report(context: dg.AssetExecutionContext, config: WalkForwardSettings, duckdb: DuckDBStore,
                        supervisor: StreamSupervisor, strategy_optimization: dict) -> dg.Output[dict]:
    from tradestream.backtest import BacktestConfig, BacktestInputError
    from tradestream.backtest.optimize import GAConfig
    from tradestream.backtest.walkforward import WalkForwardConfig, walk_forward

    pair = context.partition_key
    opt = strategy_optimization
    candles = _candles(duckdb, pair, opt["timeframe"], opt["start"], opt["end"])
    trading = BacktestConfig(fees=opt["fees"], slippage_bps=opt["slippage_bps"])
    walk = WalkForwardConfig(folds=config.folds, in_sample_ratio=config.in_sample_ratio,
                             min_oos_sharpe=config.min_oos_sharpe, max_degradation=config.max_degradation,
                             min_folds=config.min_folds)
    home = supervisor.paths().home
    verdicts: dict[str, dict] = {}
    for name, found in opt["strategies"].items():
        try:
            report = walk_forward(candles, name, pair=pair, timeframe=opt["timeframe"], config=trading, walk=walk,
                                  objective=opt["objective"],
                                  ga=GAConfig(population=config.population, generations=config.generations),
                                  storage_dir=home / "optuna", allow_gaps=True)
        except BacktestInputError as exc:
            verdicts[name] = {"passed": False, "reasons": [str(exc)], "params": found["best_params"]}
            continue
        verdicts[name] = {
            "passed": report.passed, "reasons": list(report.reasons), "params": found["best_params"],
            "mean_in_sample_sharpe": report.mean_in_sample_sharpe,
            "mean_out_of_sample_sharpe": report.mean_out_of_sample_sharpe, "degradation": report.degradation,
            "deflated_sharpe": report.deflated.deflated, "folds": len(report.folds),
            "probability_of_backtest_overfitting": None if report.overfitting is None else report.overfitting.pbo,
            "study_name": found["study_name"]}
    out = {"pair": pair, "timeframe": opt["timeframe"], "start": opt["start"], "end": opt["end"],
           "optimization_run_id": opt["run_id"], "walk_forward_run_id": context.run_id,
           "created_at": datetime.now(UTC).isoformat(), "strategies": verdicts}
    path = reports_dir(home) / f"{pair}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=float))
    table = ["| strategy | passed | OOS Sharpe | degradation | deflated Sharpe | why not |",
             "|---|---|---:|---:|---:|---|"]
    nan = float("nan")
    for name, v in verdicts.items():
        table.append(f"| {name} | {'yes' if v['passed'] else 'no'} | {v.get('mean_out_of_sample_sharpe', nan):.3f} "
                     f"| {v.get('degradation', nan):.3f} | {v.get('deflated_sharpe', nan):.3f} | "
                     f"{'; '.join(v['reasons'])} |")
    return dg.Output(out, metadata={"report": dg.MetadataValue.md("\n".join(table)),
                                    "approved": sum(v["passed"] for v in verdicts.values()),
                                    "report_file": dg.MetadataValue.path(str(path))})


class LiveConfigSettings(dg.Config):
    fallback_strategies: list[str] = Field(
        default_factory=lambda: list(FALLBACK_STRATEGIES),
        description="Run these with default parameters on every pair while no strategy has passed walk-forward.")
    timeframes: list[str] = Field(default_factory=lambda: ["1m"],
                                  description="Timeframes the fallback strategies run on.")
    max_report_age_days: float = Field(7.0, description="Ignore walk-forward reports older than this.")


def approved_entries(home: Path, max_age: timedelta) -> tuple[list["ActiveEntry"], list[dict]]:
    """Entries for every approved strategy in the pairs' walk-forward reports, with their provenance."""
    from tradestream.strategies import get_strategy
    from tradestream.strategies.config import ActiveEntry

    entries, provenance = [], []
    now = datetime.now(UTC)
    for path in sorted(reports_dir(home).glob("*.json")):
        report = json.loads(path.read_text())
        if now - datetime.fromisoformat(report["created_at"]) > max_age:
            continue
        for name, verdict in report["strategies"].items():
            if not verdict["passed"]:
                continue
            entries.append(ActiveEntry(name, get_strategy(name).space.validate(verdict["params"]),
                                       (report["pair"],), (report["timeframe"],)))
            provenance.append({"strategy": name, "params": verdict["params"], "pair": report["pair"],
                               "timeframe": report["timeframe"], "candles": [report["start"], report["end"]],
                               "study": verdict.get("study_name"),
                               "optimization_run_id": report["optimization_run_id"],
                               "walk_forward_run_id": report["walk_forward_run_id"],
                               "out_of_sample_sharpe": verdict.get("mean_out_of_sample_sharpe")})
    return entries, provenance


@dg.asset(group_name=GROUP, kinds={"yaml"},
          deps=[dg.AssetDep(walk_forward_report, partition_mapping=dg.AllPartitionMapping())],
          description="The active strategy set signals_stream runs: every strategy approved by walk-forward, per "
                      "pair, with the optimized parameters (a small fallback set until one is approved).")
def live_strategy_config(context: dg.AssetExecutionContext, config: LiveConfigSettings,
                         supervisor: StreamSupervisor) -> dg.MaterializeResult:
    from tradestream.strategies import UnknownStrategyError, get_strategy
    from tradestream.strategies.config import ActiveEntry, ActiveStrategySet, load_active_set

    home = supervisor.paths().home
    entries, provenance = approved_entries(home, timedelta(days=config.max_report_age_days))
    source = "walk-forward approvals"
    if not entries:
        source = "fallback (no strategy has passed walk-forward yet)"
        for name in config.fallback_strategies:
            try:
                spec = get_strategy(name)
            except UnknownStrategyError as exc:
                raise dg.Failure(description=f"live config field `fallback_strategies`: {exc}",
                                 allow_retries=False) from None
            entries.append(ActiveEntry(spec.name, spec.space.defaults(), None, tuple(config.timeframes)))
            provenance.append({"strategy": spec.name, "params": spec.space.defaults(), "pair": "*",
                               "source": "fallback defaults"})
    path = live_config_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.yaml")
    ActiveStrategySet.of(entries).dump(tmp)
    _, errors = load_active_set(tmp)  # the stream must be able to read every entry we wrote
    if errors:
        raise dg.Failure(description="live strategy config has invalid entries: " + "; ".join(map(str, errors)))
    tmp.replace(path)  # atomically: the stream never sees half a file
    provenance_path = path.with_name("active_strategies.provenance.json")
    provenance_path.write_text(json.dumps(provenance, indent=2, default=float))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    table = ["| strategy | parameters | pair | timeframe | optimization run | walk-forward run |",
             "|---|---|---|---|---|---|"]
    for p in provenance:
        table.append(f"| {p['strategy']} | {_params_md(p['params'])} | {p['pair']} | {p.get('timeframe', '')} | "
                     f"{p.get('optimization_run_id', '-')} | {p.get('walk_forward_run_id', '-')} |")
    context.log.info(f"live strategy config: {len(entries)} entries from {source} -> {path}")
    return dg.MaterializeResult(data_version=dg.DataVersion(sha), metadata={
        "path": dg.MetadataValue.path(str(path)), "sha256": sha, "source": source,
        "entries": len(entries), "strategies": dg.MetadataValue.md("\n".join(table)),
        "provenance": dg.MetadataValue.path(str(provenance_path))})


RESEARCH_ASSETS = (strategy_optimization, walk_forward_report, live_strategy_config)
