"""Walk-forward validation: optimize in sample, trade the winner out of sample, fold after fold.

Folds are cut by bar position. Rolling (the default): fold k optimizes on bars
[k*L, k*L + I) and trades [k*L + I, (k+1)*L + I), where L is the out-of-sample length and
I the in-sample length, so out-of-sample windows tile the history without overlapping.
Anchored: every fold's in-sample window starts at the first bar.

Each fold's out-of-sample signals are computed over its in-sample bars too, so indicators
are warm when trading starts; the account starts flat at the out-of-sample start.
A strategy passes when it has at least ``min_folds`` folds, a mean out-of-sample Sharpe of
at least ``min_oos_sharpe`` and a degradation (1 - mean OOS Sharpe / mean IS Sharpe) of at
most ``max_degradation`` (TradeStream's defaults: 3, 0.5, 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradestream.backtest import _kernels as k
from tradestream.backtest.candles import validate_candles
from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.engine import BacktestRun, indicator_cache, run_backtest, strategy_signals
from tradestream.backtest.errors import BacktestInputError
from tradestream.backtest.metrics import (
    BacktestOverfitting,
    DeflatedSharpe,
    Metrics,
    backtest_overfitting,
    deflated_sharpe,
    per_period_sharpe,
)
from tradestream.backtest.optimize import (
    GAConfig,
    Method,
    OptimizationResult,
    SearchProgress,
    optimize,
    study_directory,
)
from tradestream.backtest.strategy import StrategyLike, resolve_strategy
from tradestream.params import ParamValue
from tradestream.settings import Settings
from tradestream.timeframes import parse_timeframe

MIN_FOLD_BARS = 10
#: Parameter sets the probability of backtest overfitting is computed over (spread evenly over the distinct
#: sets the folds tried): each is backtested over the whole history.
PBO_MAX_TRIALS = 50


@dataclass(frozen=True)
class WalkForwardConfig:
    """How to cut folds and when a strategy passes.

    Give ``folds`` (with ``in_sample_ratio`` = in-sample length / out-of-sample length), or
    explicit ``in_sample``/``out_of_sample`` durations ("14D", "6h") to fit as many folds as
    the history holds.
    """

    folds: int = 5
    in_sample_ratio: float = 3.0
    in_sample: str | None = None
    out_of_sample: str | None = None
    anchored: bool = False
    min_oos_sharpe: float = 0.5
    max_degradation: float = 0.5
    min_folds: int = 3
    pbo_splits: int = 8  # CSCV blocks for the probability of backtest overfitting (even)

    def __post_init__(self) -> None:
        if self.folds < 1:
            raise BacktestInputError(f"folds={self.folds} must be at least 1")
        if not self.in_sample_ratio > 0 or not math.isfinite(self.in_sample_ratio):
            raise BacktestInputError(f"in_sample_ratio={self.in_sample_ratio} must be a positive number")
        if (self.in_sample is None) != (self.out_of_sample is None):
            raise BacktestInputError("give both in_sample and out_of_sample durations, or neither")
        if self.min_folds < 1:
            raise BacktestInputError(f"min_folds={self.min_folds} must be at least 1")
        if self.max_degradation < 0:
            raise BacktestInputError(f"max_degradation={self.max_degradation} must not be negative")
        if self.pbo_splits < 2 or self.pbo_splits % 2:
            raise BacktestInputError(f"pbo_splits={self.pbo_splits} must be an even number >= 2")


@dataclass(frozen=True)
class Fold:
    number: int
    in_sample: slice  # bar positions
    out_of_sample: slice


@dataclass(frozen=True)
class FoldResult:
    fold: Fold
    in_sample_start: pd.Timestamp
    in_sample_end: pd.Timestamp  # last bar's window start
    out_of_sample_start: pd.Timestamp
    out_of_sample_end: pd.Timestamp
    best_params: dict[str, ParamValue]
    in_sample: Metrics
    out_of_sample: Metrics
    degradation: float  # 1 - OOS Sharpe / IS Sharpe; inf when the IS Sharpe is not positive
    trials: int  # distinct parameter sets evaluated in sample
    in_sample_deflated: DeflatedSharpe
    study_name: str
    out_of_sample_run: BacktestRun


@dataclass(frozen=True)
class WalkForwardReport:
    strategy: str
    pair: str
    timeframe: str
    objective: str
    config: WalkForwardConfig
    folds: tuple[FoldResult, ...]
    out_of_sample: Metrics  # of the out-of-sample windows chained into one account
    mean_in_sample_sharpe: float
    mean_out_of_sample_sharpe: float
    degradation: float
    deflated: DeflatedSharpe  # chained out-of-sample returns, deflated by all trials of all folds
    overfitting: BacktestOverfitting | None  # PBO by CSCV over the trials' full-history returns (None: < 2 trials)
    passed: bool
    reasons: tuple[str, ...]  # why it failed; empty when it passed
    out_of_sample_equity: pd.Series
    out_of_sample_trades: pd.DataFrame  # every fold's out-of-sample trades

    def folds_frame(self) -> pd.DataFrame:
        """One row per fold: windows, best parameters, in/out-of-sample Sharpe and return, degradation."""
        rows = []
        for f in self.folds:
            rows.append({
                "fold": f.fold.number, "in_sample_start": f.in_sample_start, "in_sample_end": f.in_sample_end,
                "out_of_sample_start": f.out_of_sample_start, "out_of_sample_end": f.out_of_sample_end,
                "params": f.best_params, "is_sharpe": f.in_sample.sharpe, "oos_sharpe": f.out_of_sample.sharpe,
                "is_return": f.in_sample.total_return, "oos_return": f.out_of_sample.total_return,
                "oos_max_drawdown": f.out_of_sample.max_drawdown, "oos_trades": f.out_of_sample.number_of_trades,
                "degradation": f.degradation, "trials": f.trials,
                "is_deflated_sharpe": f.in_sample_deflated.deflated,
            })
        return pd.DataFrame(rows)


def make_folds(bars: int, timeframe: str, config: WalkForwardConfig) -> list[Fold]:
    """Fold windows (bar positions) over ``bars`` candles; out-of-sample windows never overlap."""
    if config.in_sample is not None and config.out_of_sample is not None:
        step = pd.Timedelta(parse_timeframe(timeframe).ns, unit="ns")
        is_bars = _bars(config.in_sample, step, "in_sample")
        oos_bars = _bars(config.out_of_sample, step, "out_of_sample")
        count = (bars - is_bars) // oos_bars if bars > is_bars else 0
        if count < 1:
            raise BacktestInputError(
                f"{bars} bars cannot hold one fold of in_sample={config.in_sample} ({is_bars} bars) plus "
                f"out_of_sample={config.out_of_sample} ({oos_bars} bars); load more history or shorten them")
    else:
        count = config.folds
        oos_bars = int(bars // (config.in_sample_ratio + count))
        is_bars = int(oos_bars * config.in_sample_ratio)
    if oos_bars < MIN_FOLD_BARS or is_bars < MIN_FOLD_BARS:
        raise BacktestInputError(
            f"{bars} bars split into {count} folds leave {is_bars} in-sample and {oos_bars} out-of-sample bars "
            f"per fold; each needs at least {MIN_FOLD_BARS}: load more history or use fewer folds")
    folds = []
    for number in range(count):
        oos_start = number * oos_bars + is_bars
        is_start = 0 if config.anchored else number * oos_bars
        folds.append(Fold(number, slice(is_start, oos_start), slice(oos_start, oos_start + oos_bars)))
    return folds


def _bars(duration: str, step: pd.Timedelta, name: str) -> int:
    try:
        delta = pd.Timedelta(duration)
    except ValueError:
        raise BacktestInputError(f"{name}={duration!r} is not a duration; use e.g. 14D, 36h or 90min") from None
    bars = int(delta // step)
    if bars < 1 or delta % step != pd.Timedelta(0):
        raise BacktestInputError(f"{name}={duration!r} is not a whole number of {step} bars")
    return bars


def walk_forward(candles: pd.DataFrame, strategy: str | StrategyLike, *, pair: str, timeframe: str | None = None,
                 config: BacktestConfig | None = None, walk: WalkForwardConfig | None = None,
                 method: Method = "ga", objective: str = "sharpe", ga: GAConfig | None = None, trials: int = 200,
                 grid_points: int | None = None, seed: int = 0, storage_dir: str | Path | None = None,
                 settings: Settings | None = None,
                 fresh: bool = False, allow_gaps: bool = False,
                 progress: Callable[[int, int, SearchProgress], None] | None = None) -> WalkForwardReport:
    """Walk-forward validation of ``strategy`` (see the module docstring).

    ``progress(fold_number, folds, search_progress)`` is called as each fold's search advances.
    Each fold's study is persisted like ``optimize``'s (in ``storage_dir`` or under
    ``settings``' home), so an interrupted run resumes.
    """
    spec = resolve_strategy(strategy)
    config = config or BacktestConfig()
    walk = walk or WalkForwardConfig()
    candles, timeframe = validate_candles(candles, timeframe, allow_gaps=allow_gaps)
    storage_dir = study_directory(storage_dir, settings)
    annual = parse_timeframe(timeframe).periods_per_year
    folds = make_folds(len(candles), timeframe, walk)
    results: list[FoldResult] = []
    all_trial_sharpes: list[np.ndarray] = []
    tried: list[pd.DataFrame] = []
    for fold in folds:
        in_sample = candles.iloc[fold.in_sample]
        callback = None if progress is None else (lambda p, n=fold.number: progress(n, len(folds), p))
        search = optimize(in_sample, spec, pair=pair, timeframe=timeframe, method=method, objective=objective,
                          config=config, ga=ga, trials=trials, grid_points=grid_points, seed=seed,
                          storage_dir=storage_dir, fresh=fresh, allow_gaps=True, progress=callback)
        params = search.best_params
        is_run = run_backtest(in_sample, *strategy_signals(in_sample, spec, params), config, timeframe=timeframe,
                              allow_gaps=True, strategy=spec.name, params=params)
        oos_run = _out_of_sample_run(candles, fold, spec, params, config, timeframe)
        sharpes = _distinct_sharpes(search, spec.space.names)
        all_trial_sharpes.append(sharpes)
        tried.append(search.trials[list(spec.space.names)])
        is_deflated = deflated_sharpe(is_run.returns.to_numpy(), len(sharpes),
                                      _per_period_variance(sharpes, annual), annual)
        results.append(FoldResult(
            fold=fold, in_sample_start=in_sample.index[0], in_sample_end=in_sample.index[-1],
            out_of_sample_start=oos_run.start, out_of_sample_end=oos_run.end, best_params=params,
            in_sample=is_run.metrics, out_of_sample=oos_run.metrics,
            degradation=_degradation(is_run.metrics.sharpe, oos_run.metrics.sharpe), trials=len(sharpes),
            in_sample_deflated=is_deflated, study_name=search.study_name, out_of_sample_run=oos_run))

    chained_equity, chained_metrics, chained_trades = _chain(results, candles, config, timeframe)
    chained_returns = (chained_equity / chained_equity.shift(1).fillna(config.cash) - 1.0).to_numpy()
    every_sharpe = np.concatenate(all_trial_sharpes)
    deflated = deflated_sharpe(chained_returns, len(every_sharpe), _per_period_variance(every_sharpe, annual), annual)
    overfitting = _overfitting(candles, spec, pd.concat(tried), config, timeframe, walk.pbo_splits)
    mean_is = float(np.mean([f.in_sample.sharpe for f in results]))
    mean_oos = float(np.mean([f.out_of_sample.sharpe for f in results]))
    degradation = _degradation(mean_is, mean_oos)
    reasons = []
    if len(results) < walk.min_folds:
        reasons.append(f"only {len(results)} fold(s); at least {walk.min_folds} required")
    if not mean_oos >= walk.min_oos_sharpe:
        reasons.append(f"mean out-of-sample Sharpe {mean_oos:.3f} is below {walk.min_oos_sharpe}")
    if not mean_is > 0:
        reasons.append(f"mean in-sample Sharpe {mean_is:.3f} is not positive: the optimization found nothing to "
                       "degrade from (degradation counts as inf)")
    elif not degradation <= walk.max_degradation:
        reasons.append(f"degradation {degradation:.3f} exceeds {walk.max_degradation} "
                       f"(in-sample Sharpe {mean_is:.3f}, out-of-sample {mean_oos:.3f})")
    return WalkForwardReport(
        strategy=spec.name, pair=pair, timeframe=timeframe, objective=objective, config=walk, folds=tuple(results),
        out_of_sample=chained_metrics, mean_in_sample_sharpe=mean_is, mean_out_of_sample_sharpe=mean_oos,
        degradation=degradation, deflated=deflated, overfitting=overfitting, passed=not reasons,
        reasons=tuple(reasons),
        out_of_sample_equity=chained_equity, out_of_sample_trades=chained_trades)


def _out_of_sample_run(candles: pd.DataFrame, fold: Fold, spec: StrategyLike, params: dict[str, ParamValue],
                       config: BacktestConfig, timeframe: str) -> BacktestRun:
    """Signals over in-sample + out-of-sample bars (warm indicators), traded on the out-of-sample bars only."""
    window = candles.iloc[fold.in_sample.start:fold.out_of_sample.stop]
    entries, exits = strategy_signals(window, spec, params)
    offset = fold.out_of_sample.start - fold.in_sample.start
    trading = candles.iloc[fold.out_of_sample]
    return run_backtest(trading, entries[offset:], exits[offset:], config, timeframe=timeframe, allow_gaps=True,
                        strategy=spec.name, params=params)


def _distinct_sharpes(search: OptimizationResult, names: tuple[str, ...]) -> np.ndarray:
    """Annualized Sharpe of each distinct parameter set tried: repeats add no selection bias."""
    distinct = search.trials.drop_duplicates(subset=list(names))
    return distinct["sharpe"].to_numpy(dtype=np.float64)


def _overfitting(candles: pd.DataFrame, spec: StrategyLike, tried: pd.DataFrame, config: BacktestConfig,
                 timeframe: str, splits: int) -> BacktestOverfitting | None:
    """PBO of picking the best of the parameter sets the folds tried, by CSCV on their per-bar returns
    over the whole history (at most ``PBO_MAX_TRIALS`` sets, spread evenly over the distinct ones)."""
    distinct = tried.drop_duplicates().to_dict("records")
    if len(distinct) < 2 or len(candles) < 2 * splits:
        return None
    picks = np.unique(np.linspace(0, len(distinct) - 1, min(len(distinct), PBO_MAX_TRIALS)).round().astype(int))
    cache = indicator_cache(candles, spec)
    columns = []
    for i in picks:
        params = spec.space.validate(distinct[i])
        run = run_backtest(candles, *strategy_signals(candles, spec, params, cache), config, timeframe=timeframe,
                           allow_gaps=True)
        columns.append(run.returns.to_numpy())
    return backtest_overfitting(np.column_stack(columns), splits)


def _per_period_variance(sharpes: np.ndarray, annual: float) -> float:
    finite = sharpes[np.isfinite(sharpes)]
    if finite.shape[0] < 2:
        return 0.0
    return float(np.var([per_period_sharpe(s, annual) for s in finite], ddof=1))


def _degradation(in_sample_sharpe: float, out_of_sample_sharpe: float) -> float:
    if not in_sample_sharpe > 0:
        return math.inf
    return 1.0 - out_of_sample_sharpe / in_sample_sharpe


def _chain(results: list[FoldResult], candles: pd.DataFrame, config: BacktestConfig,
           timeframe: str) -> tuple[pd.Series, Metrics, pd.DataFrame]:
    """The out-of-sample windows as one account: returns compounded, trades pooled."""
    returns = pd.concat([f.out_of_sample_run.returns for f in results])
    equity = config.cash * (1.0 + returns).cumprod()
    close = candles["close"].loc[equity.index].to_numpy()
    trades = pd.concat([f.out_of_sample_run.trades for f in results], ignore_index=True)
    closed = trades[trades["exit_bar"] >= 0]
    stats = np.zeros(k.STAT_FIELDS)
    stats[k.STAT_CLOSED] = len(closed)
    stats[k.STAT_WINS] = int((closed["pnl"] > 0).sum())
    stats[k.STAT_GROSS_PROFIT] = float(closed.loc[closed["pnl"] > 0, "pnl"].sum())
    stats[k.STAT_GROSS_LOSS] = float(-closed.loc[closed["pnl"] <= 0, "pnl"].sum())
    stats[k.STAT_SUM_RETURN] = float(closed["return"].sum())
    stats[k.STAT_SUM_BARS] = float(closed["duration_bars"].sum())
    stats[k.STAT_BARS_IN_MARKET] = float(sum((f.out_of_sample_run.position > 0).sum() for f in results))
    vector = np.empty(k.M_FIELDS)
    values = equity.to_numpy()
    k.compute_metrics(values, k.asset_returns(close), config.cash, parse_timeframe(timeframe).periods_per_year, stats,
                      np.empty(values.shape[0]), vector)
    return equity.rename("equity"), Metrics.from_vector(vector), trades
