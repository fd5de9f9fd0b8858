"""`tradestream backtest | optimize | walk-forward`: research verbs over stored candles.

Candles come from the platform's DuckDB store (or ``--source`` naming a DuckDB, Parquet
or CSV file); results print as tables, optionally as JSON, an equity-curve PNG
(``--chart``) and rows of the ``backtest_results`` table (``--save``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradestream.backtest import BacktestConfig, BacktestInputError, BacktestRun, load_candles, run_strategy
from tradestream.backtest.metrics import Metrics
from tradestream.backtest.optimize import METHODS, OBJECTIVES, GAConfig, SearchProgress, optimize
from tradestream.backtest.results import result_rows
from tradestream.backtest.strategy import resolve_strategy
from tradestream.backtest.walkforward import WalkForwardConfig, WalkForwardReport, walk_forward
from tradestream.params import ParameterError
from tradestream.timeframes import TIMEFRAMES
from tradestream_cli._console import clean_errors, console, err_console, settings_or_exit

app = typer.Typer(no_args_is_help=True, help="Backtests, optimization and walk-forward validation.")

EXPECTED_ERRORS = (BacktestInputError, ParameterError, FileNotFoundError)
PERCENT = {"total_return", "cagr", "volatility", "max_drawdown", "win_rate", "expectancy", "exposure"}
METRIC_LABELS = {
    "total_return": "Total return", "cagr": "CAGR", "volatility": "Annualized volatility", "sharpe": "Sharpe",
    "sortino": "Sortino", "calmar": "Calmar", "max_drawdown": "Max drawdown",
    "max_drawdown_duration_bars": "Max drawdown duration (bars)", "win_rate": "Win rate",
    "profit_factor": "Profit factor", "expectancy": "Expectancy (mean trade return)",
    "number_of_trades": "Trades (closed)", "average_trade_duration_bars": "Average trade duration (bars)",
    "exposure": "Exposure", "alpha": "Alpha (annualized)", "beta": "Beta", "score": "Composite score",
    "final_equity": "Final equity",
}

# Options shared by the three verbs.
STRATEGY = typer.Option(..., "--strategy", "-s", help="Strategy name, e.g. MACD_CROSSOVER.")
PAIR = typer.Option("BTC-USD", "--pair", help="Currency pair.")
TIMEFRAME = typer.Option("1m", "--timeframe", "-t", help=f"Candle timeframe: {', '.join(TIMEFRAMES)}.")
START = typer.Option(..., "--from", help="First candle time, UTC (ISO 8601: 2024-01-01 or 2024-01-01T06:00).")
END = typer.Option(..., "--to", help="End of the range, exclusive; a date alone includes that whole day.")
SOURCE = typer.Option(None, "--source", help="DuckDB, Parquet or CSV file of candles [default: the platform store].")
FEES = typer.Option(0.001, "--fees", help="Fee per side as a fraction of traded value (0.001 = 0.1 %).")
SLIPPAGE = typer.Option(0.0, "--slippage-bps", help="Slippage in basis points against every fill.")
CASH = typer.Option(10_000.0, "--cash", help="Starting cash.")
FILL = typer.Option("close", "--fill", help="Fill at the signal bar's 'close' or the 'next_open'.")
SIZE = typer.Option(1.0, "--size", help="Fraction of cash per entry (1 = all in).")
STOP_LOSS = typer.Option(None, "--stop-loss", help="Stop-loss below the entry price, as a fraction (0.05 = 5 %).")
TAKE_PROFIT = typer.Option(None, "--take-profit", help="Take-profit above the entry price, as a fraction.")
TRAILING = typer.Option(None, "--trailing-stop", help="Trailing stop below the highest price since entry.")
ALLOW_GAPS = typer.Option(False, "--allow-gaps", help="Trade across missing candles instead of refusing them.")
JSON_OUT = typer.Option(False, "--json", help="Print JSON instead of tables.")
CHART = typer.Option(None, "--chart", help="Write the equity curve as a PNG to this path.")
SAVE = typer.Option(False, "--save", help="Write the result rows to the backtest_results table of the store.")
METHOD = typer.Option("ga", "--method", "-m", help=f"Search method: {', '.join(METHODS)}.")
OBJECTIVE = typer.Option("sharpe", "--objective", help=f"What to maximize: {', '.join(OBJECTIVES)}.")
GENERATIONS = typer.Option(100, "--generations",
                           help="GA: total generations of the study (resuming runs the rest).")
POPULATION = typer.Option(50, "--population", help="GA: individuals per generation.")
TRIALS = typer.Option(200, "--trials", help="Random search: total trials of the study.")
GRID_POINTS = typer.Option(None, "--grid-points", help="Grid search: points per float parameter (ints use steps).")
SEED = typer.Option(0, "--seed", help="Seed of the search.")
FRESH = typer.Option(False, "--fresh", help="Start the study over instead of resuming it.")
PARAM = typer.Option(None, "--param", "-p", help="Parameter as NAME=VALUE; repeat for several.")


def parse_params(items: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise BacktestInputError(f"--param {item!r} must look like NAME=VALUE, e.g. --param fast=12")
        params[name.strip()] = value.strip()
    return params


def trading_config(cash: float, fees: float, slippage_bps: float, fill: str, size: float, stop_loss: float | None,
                   take_profit: float | None, trailing_stop: float | None) -> BacktestConfig:
    return BacktestConfig(cash=cash, fees=fees, slippage_bps=slippage_bps, fill=fill.replace("-", "_"),  # type: ignore[arg-type]
                          size=size, stop_loss=stop_loss, take_profit=take_profit, trailing_stop=trailing_stop)


def candles_for(source: Path | None, pair: str, timeframe: str, start: str, end: str):
    path = source if source is not None else settings_or_exit().duckdb_path
    return load_candles(path, pair, timeframe, start, end)


def lineage(source: Path | None, pair: str, timeframe: str, start: str, end: str) -> list[dict[str, Any]]:
    """Where the candles came from (imported history, the live stream, a rebuild...): runs of one source each."""
    import pandas as pd

    from tradestream.backtest.candles import candle_sources

    path = source if source is not None else settings_or_exit().duckdb_path
    return [{"source": r.source, "first": str(r.first), "last": str(r.last),
             "bars": None if pd.isna(r.bars) else int(r.bars)}
            for r in candle_sources(path, pair, timeframe, start, end).itertuples()]


def lineage_line(runs: list[dict[str, Any]]) -> str:
    return "candles from: " + "; ".join(
        f"{r['source']} {r['first'][:16]} .. {r['last'][:16]}" + (f" ({r['bars']:,} bars)" if r["bars"] else "")
        for r in runs)


def fmt_metric(name: str, value: float) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if name == "number_of_trades":
        return str(int(value))
    if name in PERCENT:
        return f"{value:.2%}"
    if name in ("max_drawdown_duration_bars", "average_trade_duration_bars"):
        return f"{value:,.1f}"
    if name == "final_equity":
        return f"{value:,.2f}"
    return f"{value:.3f}"


def metrics_table(title: str, columns: dict[str, Metrics]) -> Table:
    table = Table(title=title)
    table.add_column("Metric", style="bold")
    for name in columns:
        table.add_column(escape(name), justify="right")
    for metric, label in METRIC_LABELS.items():
        table.add_row(label, *(fmt_metric(metric, m[metric]) for m in columns.values()))
    return table


def json_safe(value: Any) -> Any:
    """Non-finite floats become strings ("inf"): JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def save_rows(rows: list[dict[str, Any]]) -> None:
    from tradestream import store
    from tradestream.backtest.results import write_results

    path = settings_or_exit().duckdb_path
    with store.writer(path) as con:
        written = write_results(con, rows)
    console.print(f"saved {written} row(s) to backtest_results in {path}")


def print_warnings(run: BacktestRun) -> None:
    for warning in run.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")


@app.command("backtest")
def backtest_command(
    strategy: str = STRATEGY, pair: str = PAIR, timeframe: str = TIMEFRAME, start: str = START, end: str = END,
    param: list[str] | None = PARAM, source: Path | None = SOURCE, fees: float = FEES,
    slippage_bps: float = SLIPPAGE, cash: float = CASH, fill: str = FILL, size: float = SIZE,
    stop_loss: float | None = STOP_LOSS, take_profit: float | None = TAKE_PROFIT,
    trailing_stop: float | None = TRAILING, allow_gaps: bool = ALLOW_GAPS, chart: Path | None = CHART,
    trades: bool = typer.Option(False, "--trades", help="Also print every trade."), save: bool = SAVE,
    as_json: bool = JSON_OUT,
) -> None:
    """Backtest one strategy with fixed parameters and print its metrics."""
    with clean_errors(*EXPECTED_ERRORS):
        config = trading_config(cash, fees, slippage_bps, fill, size, stop_loss, take_profit, trailing_stop)
        spec = resolve_strategy(strategy)
        params = spec.space.validate(parse_params(param))
        candles = candles_for(source, pair, timeframe, start, end)
        run = run_strategy(candles, spec, params, config, timeframe=timeframe, allow_gaps=allow_gaps)
        sources = lineage(source, pair, timeframe, start, end)
    if as_json:
        typer.echo(json.dumps(json_safe({"strategy": spec.name, "params": params, "pair": pair,
                                         "timeframe": timeframe, "start": run.start.isoformat(),
                                         "end": run.end.isoformat(), "bars": len(run.equity),
                                         "metrics": run.metrics.as_dict(), "warnings": list(run.warnings),
                                         "candle_sources": sources}), indent=2))
    else:
        title = (f"{spec.name} {escape(json.dumps(params))} on {pair} {timeframe}, "
                 f"{run.start:%Y-%m-%d %H:%M} to {run.end:%Y-%m-%d %H:%M} ({len(run.equity):,} bars)")
        console.print(metrics_table(title, {"value": run.metrics}))
        console.print(escape(lineage_line(sources)))
        print_warnings(run)
        if trades:
            console.print(trades_table(run))
    if chart is not None:
        console.print(f"equity curve: {run.plot(chart)}")
    if save:
        save_rows(result_rows([(pair, run)]))


def trades_table(run: BacktestRun) -> Table:
    table = Table(title=f"{len(run.trades)} trade(s)")
    for column in ("entry", "exit", "entry price", "exit price", "size", "pnl", "return", "bars", "exit reason"):
        table.add_column(column, justify="right")
    for t in run.trades.to_dict("records"):
        exit_time = "open" if t["exit_bar"] < 0 else f"{t['exit_time']:%m-%d %H:%M}"
        table.add_row(f"{t['entry_time']:%m-%d %H:%M}", exit_time, f"{t['entry_price']:,.4f}",
                      f"{t['exit_price']:,.4f}", f"{t['size']:.4g}", f"{t['pnl']:,.2f}", f"{t['return']:.2%}",
                      str(t["duration_bars"]), t["exit_reason"])
    return table


class SearchBar:
    """A rich progress bar fed by the optimizer's progress callback."""

    def __init__(self, progress: Progress, label: str):
        self.progress = progress
        self.label = label
        self.task = progress.add_task(label, total=None, best="")

    def __call__(self, event: SearchProgress) -> None:
        best = "" if event.best_value is None else f"best {event.best_value:.4g}"
        generation = "" if event.generation is None else f" gen {event.generation}"
        self.progress.update(self.task, total=event.total, completed=event.done, best=best + generation)


def progress_bar(hidden: bool = False) -> Progress:
    """Search progress on stderr (stdout stays clean for tables and JSON); ``hidden`` shows nothing."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[best]}"), TimeElapsedColumn(), console=err_console, disable=hidden)


@app.command("optimize")
def optimize_command(
    strategy: str = STRATEGY, pair: str = PAIR, timeframe: str = TIMEFRAME, start: str = START, end: str = END,
    method: str = METHOD, objective: str = OBJECTIVE, generations: int = GENERATIONS, population: int = POPULATION,
    trials: int = TRIALS, grid_points: int | None = GRID_POINTS, seed: int = SEED,
    study: str | None = typer.Option(None, "--study", help="Study name [default: derived from the inputs]."),
    fresh: bool = FRESH, top: int = typer.Option(10, "--top", help="Rows of the best-trials table."),
    source: Path | None = SOURCE, fees: float = FEES, slippage_bps: float = SLIPPAGE, cash: float = CASH,
    fill: str = FILL, size: float = SIZE, stop_loss: float | None = STOP_LOSS,
    take_profit: float | None = TAKE_PROFIT, trailing_stop: float | None = TRAILING,
    allow_gaps: bool = ALLOW_GAPS, chart: Path | None = CHART, save: bool = SAVE, as_json: bool = JSON_OUT,
) -> None:
    """Search a strategy's parameter space (GA, random or grid); the study is saved and resumes."""
    with clean_errors(*EXPECTED_ERRORS):
        config = trading_config(cash, fees, slippage_bps, fill, size, stop_loss, take_profit, trailing_stop)
        ga = GAConfig(population=population, generations=generations)
        spec = resolve_strategy(strategy)
        candles = candles_for(source, pair, timeframe, start, end)
        storage = settings_or_exit().paths.home / "optuna"
        with progress_bar(hidden=as_json) as progress:
            bar = SearchBar(progress, f"{method} {spec.name}")
            result = optimize(candles, spec, pair=pair, timeframe=timeframe, method=method,  # type: ignore[arg-type]
                              objective=objective, config=config, ga=ga, trials=trials, grid_points=grid_points,
                              seed=seed, storage_dir=storage, study_name=study, fresh=fresh, allow_gaps=allow_gaps,
                              progress=None if as_json else bar)
        best_run = run_strategy(candles, spec, result.best_params, config, timeframe=timeframe, allow_gaps=allow_gaps)
    if as_json:
        typer.echo(json.dumps(json_safe({
            "study": result.study_name, "storage": str(result.storage_path), "method": result.method,
            "objective": result.objective, "trials": result.n_trials, "resumed_trials": result.resumed_trials,
            "best_params": result.best_params, "best_value": result.best_value,
            "best_metrics": best_run.metrics.as_dict()}), indent=2))
    else:
        resumed = f", resumed from {result.resumed_trials}" if result.resumed_trials else ""
        console.print(f"study [bold]{escape(result.study_name)}[/bold]: {result.n_trials} trials{resumed} "
                      f"({result.storage_path})")
        console.print(trials_table(result.trials, spec.space.names, result.objective, top))
        console.print(metrics_table(f"best: {escape(json.dumps(result.best_params))}", {"value": best_run.metrics}))
        print_warnings(best_run)
    if chart is not None:
        console.print(f"equity curve: {best_run.plot(chart)}")
    if save:
        save_rows(result_rows([(pair, best_run)], kind="optimize"))


def trials_table(trials, names: tuple[str, ...], objective: str, top: int) -> Table:
    best = trials.sort_values("value", ascending=False).drop_duplicates(subset=list(names)).head(top)
    table = Table(title=f"top {len(best)} of {len(trials)} trials by {objective}")
    for column in ("#", *names, objective, "return", "max dd", "trades"):
        table.add_column(escape(column), justify="right")
    for row in best.itertuples(index=False):
        values = row._asdict()
        table.add_row(str(values["number"]), *(f"{values[n]:g}" for n in names), f"{values['value']:.4g}",
                      fmt_metric("total_return", values["total_return"]),
                      fmt_metric("max_drawdown", values["max_drawdown"]),
                      fmt_metric("number_of_trades", values["number_of_trades"]))
    return table


@app.command("walk-forward")
def walk_forward_command(
    strategy: str = STRATEGY, pair: str = PAIR, timeframe: str = TIMEFRAME, start: str = START, end: str = END,
    folds: int = typer.Option(5, "--folds", help="Number of folds (with --in-sample-ratio)."),
    in_sample_ratio: float = typer.Option(3.0, "--in-sample-ratio", help="In-sample length / out-of-sample length."),
    in_sample: str | None = typer.Option(None, "--in-sample", help="In-sample duration, e.g. 14D."),
    out_of_sample: str | None = typer.Option(None, "--out-of-sample", help="Out-of-sample duration, e.g. 3D."),
    anchored: bool = typer.Option(False, "--anchored", help="In-sample windows all start at the first bar."),
    min_oos_sharpe: float = typer.Option(0.5, "--min-oos-sharpe", help="Pass threshold: mean out-of-sample Sharpe."),
    max_degradation: float = typer.Option(0.5, "--max-degradation", help="Pass threshold: 1 - OOS/IS Sharpe."),
    min_folds: int = typer.Option(3, "--min-folds", help="Pass threshold: number of folds."),
    method: str = METHOD, objective: str = OBJECTIVE, generations: int = typer.Option(
        20, "--generations", help="GA: generations per fold."), population: int = POPULATION,
    trials: int = TRIALS, grid_points: int | None = GRID_POINTS, seed: int = SEED, fresh: bool = FRESH,
    source: Path | None = SOURCE, fees: float = FEES, slippage_bps: float = SLIPPAGE, cash: float = CASH,
    fill: str = FILL, size: float = SIZE, stop_loss: float | None = STOP_LOSS,
    take_profit: float | None = TAKE_PROFIT, trailing_stop: float | None = TRAILING,
    allow_gaps: bool = ALLOW_GAPS, chart: Path | None = CHART, save: bool = SAVE, as_json: bool = JSON_OUT,
    fail_on_reject: bool = typer.Option(False, "--fail-on-reject", help="Exit with code 3 when the strategy fails."),
) -> None:
    """Optimize in sample and trade out of sample, fold after fold; pass or fail against thresholds."""
    with clean_errors(*EXPECTED_ERRORS):
        config = trading_config(cash, fees, slippage_bps, fill, size, stop_loss, take_profit, trailing_stop)
        walk = WalkForwardConfig(folds=folds, in_sample_ratio=in_sample_ratio, in_sample=in_sample,
                                 out_of_sample=out_of_sample, anchored=anchored, min_oos_sharpe=min_oos_sharpe,
                                 max_degradation=max_degradation, min_folds=min_folds)
        ga = GAConfig(population=population, generations=generations)
        spec = resolve_strategy(strategy)
        candles = candles_for(source, pair, timeframe, start, end)
        storage = settings_or_exit().paths.home / "optuna"
        with progress_bar(hidden=as_json) as progress:
            bars: dict[int, SearchBar] = {}

            def on_progress(fold: int, count: int, event: SearchProgress) -> None:
                if fold not in bars:
                    bars[fold] = SearchBar(progress, f"fold {fold + 1}/{count}")
                bars[fold](event)

            report = walk_forward(candles, spec, pair=pair, timeframe=timeframe, config=config, walk=walk,
                                  method=method, objective=objective, ga=ga, trials=trials,  # type: ignore[arg-type]
                                  grid_points=grid_points, seed=seed, storage_dir=storage, fresh=fresh,
                                  allow_gaps=allow_gaps, progress=None if as_json else on_progress)
    if as_json:
        typer.echo(json.dumps(json_safe(report_dict(report)), indent=2, default=str))
    else:
        print_report(report)
    if chart is not None:
        from tradestream.backtest.chart import plot_curve

        equity = report.out_of_sample_equity
        path = plot_curve(equity, candles["close"].loc[equity.index], config.cash, report.out_of_sample_trades, chart,
                          title=_chart_title(report))
        console.print(f"out-of-sample equity curve: {path}")
    if save:
        save_rows(result_rows([(pair, f.out_of_sample_run) for f in report.folds], kind="walk_forward"))
    if fail_on_reject and not report.passed:
        raise typer.Exit(3)


def _chart_title(report: WalkForwardReport) -> str:
    verdict = "PASS" if report.passed else "FAIL"
    return (f"{report.strategy} walk-forward on {report.pair} {report.timeframe}: out-of-sample "
            f"{report.out_of_sample.total_return:+.2%}, Sharpe {report.out_of_sample.sharpe:.2f} ({verdict})")


def report_dict(report: WalkForwardReport) -> dict[str, Any]:
    folds = report.folds_frame()
    return {
        "strategy": report.strategy, "pair": report.pair, "timeframe": report.timeframe,
        "objective": report.objective, "passed": report.passed, "reasons": list(report.reasons),
        "mean_in_sample_sharpe": report.mean_in_sample_sharpe,
        "mean_out_of_sample_sharpe": report.mean_out_of_sample_sharpe, "degradation": report.degradation,
        "deflated_sharpe": report.deflated.deflated, "deflated_sharpe_probability": report.deflated.probability,
        "expected_max_sharpe": report.deflated.expected_max_sharpe, "trials": report.deflated.trials,
        "probability_of_backtest_overfitting": None if report.overfitting is None else report.overfitting.pbo,
        "out_of_sample": report.out_of_sample.as_dict(),
        "folds": json.loads(folds.to_json(orient="records", date_format="iso")),
    }


def print_report(report: WalkForwardReport) -> None:
    table = Table(title=f"{report.strategy} walk-forward on {report.pair} {report.timeframe} ({report.objective})")
    for column in ("fold", "out of sample", "params", "IS Sharpe", "OOS Sharpe", "OOS return", "OOS max dd",
                   "OOS trades", "degradation"):
        table.add_column(column, justify="right")
    for f in report.folds:
        params = " ".join(f"{k}={v:g}" for k, v in f.best_params.items())
        table.add_row(str(f.fold.number + 1), f"{f.out_of_sample_start:%m-%d %H:%M}..{f.out_of_sample_end:%m-%d %H:%M}",
                      escape(params), f"{f.in_sample.sharpe:.3f}", f"{f.out_of_sample.sharpe:.3f}",
                      fmt_metric("total_return", f.out_of_sample.total_return),
                      fmt_metric("max_drawdown", f.out_of_sample.max_drawdown), str(f.out_of_sample.number_of_trades),
                      fmt_metric("degradation", f.degradation))
    console.print(table)
    console.print(metrics_table("out-of-sample windows chained", {"value": report.out_of_sample}))
    d = report.deflated
    degradation = fmt_metric("degradation", report.degradation)
    console.print(f"mean Sharpe in sample {report.mean_in_sample_sharpe:.3f}, out of sample "
                  f"{report.mean_out_of_sample_sharpe:.3f}; degradation {degradation}")
    console.print(f"deflated Sharpe {d.deflated:.3f} (Sharpe {d.sharpe:.3f} minus {d.expected_max_sharpe:.3f} expected "
                  f"from the best of {d.trials} skill-less trials); P(true Sharpe > that) = {d.probability:.3f}")
    if report.overfitting is not None:
        o = report.overfitting
        console.print(f"probability of backtest overfitting {o.pbo:.3f} (CSCV: {o.combinations} splits of "
                      f"{o.trials} parameter sets into {o.splits} blocks)")
    if report.passed:
        console.print("[bold green]PASS[/bold green]")
    else:
        console.print("[bold red]FAIL[/bold red]: " + "; ".join(escape(r) for r in report.reasons))

