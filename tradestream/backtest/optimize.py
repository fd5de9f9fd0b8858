"""Parameter search over a strategy's space: genetic algorithm, random and grid search.

Studies live in Optuna journal files under ``<home>/optuna/`` and are named from the
strategy, pair, timeframe, date range, method, objective and trading assumptions, so
running the same search again resumes it (targets are totals: ``generations=100`` on a
study that has 40 runs the remaining 60). Every trial is recorded with all its metrics as
user attributes. Trials are asked from Optuna a batch at a time (one GA generation, or a
chunk of random/grid points) and their backtests run in one parallel kernel call.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from tradestream.backtest.candles import validate_candles
from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.engine import SignalEngine, indicator_cache, signal_matrices, simulate_matrix
from tradestream.backtest.errors import BacktestInputError
from tradestream.backtest.ga import FeasibleRandomSampler, TournamentGASampler, space_distributions
from tradestream.backtest.metrics import METRIC_NAMES
from tradestream.backtest.storage import StudyHandle, open_study, storage_file
from tradestream.backtest.strategy import StrategyLike, resolve_strategy
from tradestream.params import ParamSpace, ParamValue
from tradestream.settings import Settings

Method = Literal["ga", "random", "grid"]
METHODS: tuple[str, ...] = ("ga", "random", "grid")
# Objectives that are better when larger; "score" is TradeStream's composite score.
OBJECTIVES: tuple[str, ...] = ("sharpe", "score", "sortino", "calmar", "total_return", "cagr", "profit_factor",
                               "expectancy", "win_rate")
OBJECTIVE_ALIASES = {"composite": "score", "composite_score": "score", "strategy_score": "score"}
METRICS_ATTR = "metrics"  # user attribute holding a trial's full metrics dict
ERROR_ATTR = "error"  # user attribute of a failed trial: why its parameters could not be evaluated
RANDOM_BATCH = 64
GRID_BATCH = 256

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class GAConfig:
    """TradeStream's GA defaults: population 50, tournament 3, crossover 0.35, mutation 0.15."""

    population: int = 50
    generations: int = 100
    tournament: int = 3
    crossover: float = 0.35
    mutation: float = 0.15

    def __post_init__(self) -> None:
        if self.population < 2:
            raise BacktestInputError(f"population={self.population} must be at least 2")
        if self.generations < 1:
            raise BacktestInputError(f"generations={self.generations} must be at least 1")
        if self.tournament < 1:
            raise BacktestInputError(f"tournament={self.tournament} must be at least 1")
        for name in ("crossover", "mutation"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise BacktestInputError(f"{name}={value} is outside [0, 1]; it is a probability")


@dataclass(frozen=True)
class SearchProgress:
    """Reported after each batch of trials."""

    done: int
    total: int
    best_value: float | None
    best_params: dict[str, ParamValue] | None
    generation: int | None = None


@dataclass(frozen=True)
class OptimizationResult:
    study_name: str
    storage_path: Path
    method: str
    objective: str
    best_params: dict[str, ParamValue]
    best_value: float
    best_metrics: dict[str, float]
    trials: pd.DataFrame  # one row per completed trial: number, generation, params, objective value, metrics
    resumed_trials: int  # completed trials the study already had when this run began
    objective_values: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))

    @property
    def n_trials(self) -> int:
        return len(self.trials)


# Maps a batch of parameter sets to their metrics; a string instead of metrics says why that
# set cannot be evaluated on this data (e.g. a look-back longer than the candles): its trial
# is recorded as failed and the search goes on.
BatchEvaluator = Callable[[Sequence[Mapping[str, ParamValue]]], Sequence[Mapping[str, float] | str]]


def normalize_objective(objective: str) -> str:
    name = OBJECTIVE_ALIASES.get(objective, objective)
    if name not in OBJECTIVES:
        raise BacktestInputError(f"objective {objective!r} is not one of {list(OBJECTIVES)} (or 'composite')")
    return name


def study_name_for(strategy: str, pair: str, timeframe: str, start: pd.Timestamp, end: pd.Timestamp, method: str,
                   objective: str, fingerprint: Mapping[str, Any]) -> str:
    """A stable study name: the same search on the same data gets the same name, so it resumes."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:10]
    stamp = "%Y%m%dT%H%M"
    return (f"{strategy}:{pair}:{timeframe}:{start.strftime(stamp)}-{end.strftime(stamp)}:{method}:{objective}:"
            f"{digest}")


def run_search(space: ParamSpace, evaluate: BatchEvaluator, *, study_name: str, storage_path: Path,
               method: Method = "ga", objective: str = "sharpe", ga: GAConfig | None = None,
               trials: int = 500, grid_points: int | None = None, seed: int = 0, fresh: bool = False,
               progress: Callable[[SearchProgress], None] | None = None,
               description: Mapping[str, Any] | None = None) -> OptimizationResult:
    """Search ``space`` for the parameters maximizing ``objective`` as returned by ``evaluate``.

    ``evaluate`` maps a batch of parameter sets to metric dicts (each holding the
    objective). ``trials`` is the total for random search; ``ga.generations`` the total
    for the GA; grid search covers the space's grid (``grid_points`` per float parameter).
    """
    if method not in METHODS:
        raise BacktestInputError(f"method {method!r} is not one of {list(METHODS)}")
    objective = normalize_objective(objective)
    ga = ga or GAConfig()
    if method == "random" and trials < 1:
        raise BacktestInputError(f"trials={trials} must be at least 1")
    if method == "ga":
        sampler: optuna.samplers.BaseSampler = TournamentGASampler(
            space, population_size=ga.population, tournament_size=ga.tournament, crossover_prob=ga.crossover,
            mutation_prob=ga.mutation, seed=seed)
    else:
        sampler = FeasibleRandomSampler(space, seed=seed)
    settings = {"method": method, "objective": objective, "seed": seed, "space": [p.as_dict() for p in space],
                "constraints": [str(c) for c in space.constraints], **(description or {})}
    if method == "ga":
        settings.update(population=ga.population, tournament=ga.tournament, crossover=ga.crossover,
                        mutation=ga.mutation)
    with open_study(storage_path, study_name, sampler, settings, fresh=fresh) as handle:
        return _search(handle, space, evaluate, sampler, method, objective, ga, trials, grid_points, progress,
                       storage_path)


def _search(handle: StudyHandle, space: ParamSpace, evaluate: BatchEvaluator, sampler: optuna.samplers.BaseSampler,
            method: str, objective: str, ga: GAConfig, trials: int, grid_points: int | None,
            progress: Callable[[SearchProgress], None] | None, storage_path: Path) -> OptimizationResult:
    study = handle.study
    distributions = space_distributions(space)
    names = space.names
    cache = _metric_cache(study, names)
    failures = _failure_cache(study, names)
    consecutive_failures = 0

    if method == "grid":
        grid = space.grid(grid_points)
        if not grid:
            raise BacktestInputError(f"{space.owner}: the parameter grid is empty; check the constraints")
        total = len(grid)
        pending = [g for g in grid if _key(g, names) not in cache and _key(g, names) not in failures]
    else:
        total = ga.population * ga.generations if method == "ga" else trials
        pending = []

    def report() -> None:
        if progress is None:
            return
        best = _best(study)
        generation = _current_generation(study, sampler) if method == "ga" else None
        progress(SearchProgress(done=_completed(study), total=total, best_value=None if best is None else best.value,
                                best_params=None if best is None else dict(best.params), generation=generation))

    report()
    while True:
        done = _completed(study)
        if method == "grid":
            batch_params = pending[:GRID_BATCH]
            pending = pending[GRID_BATCH:]
            if not batch_params:
                break
            asked = []
            for values in batch_params:
                study.enqueue_trial(values, skip_if_exists=False)
                asked.append(study.ask(distributions))
        else:
            remaining = total - done
            if remaining <= 0:
                break
            size = _generation_room(study, sampler, ga.population) if method == "ga" else RANDOM_BATCH
            asked = [study.ask(distributions) for _ in range(min(size, remaining))]
        params = [{n: t.params[n] for n in names} for t in asked]
        fresh_params = []
        for values in params:
            key = _key(values, names)
            if key not in cache and key not in failures and key not in {_key(v, names) for v in fresh_params}:
                fresh_params.append(values)
        if fresh_params:
            results = list(evaluate(fresh_params))
            if len(results) != len(fresh_params):
                raise RuntimeError(f"evaluator returned {len(results)} results for {len(fresh_params)} parameter sets")
            for values, outcome in zip(fresh_params, results, strict=True):
                if isinstance(outcome, str):
                    failures[_key(values, names)] = outcome
                else:
                    cache[_key(values, names)] = {k: float(v) for k, v in outcome.items()}
        told = 0
        for trial, values in zip(asked, params, strict=True):
            key = _key(values, names)
            if key in failures:
                trial.set_user_attr(ERROR_ATTR, failures[key])
                study.tell(trial, state=TrialState.FAIL)
                continue
            metrics = cache[key]
            trial.set_user_attr(METRICS_ATTR, metrics)
            value = metrics[objective]
            study.tell(trial, value if not math.isnan(value) else -math.inf)
            told += 1
        handle.flush()
        report()
        if told == 0 and method != "grid":
            consecutive_failures += len(asked)
            if consecutive_failures >= max(RANDOM_BATCH, ga.population) * 4:
                example = next(iter(failures.values()))
                raise BacktestInputError(
                    f"{consecutive_failures} parameter sets in a row could not be evaluated on these candles, "
                    f"e.g.: {example}")
        else:
            consecutive_failures = 0

    if not cache and failures:
        example = next(iter(failures.values()))
        raise BacktestInputError(f"no parameter set could be evaluated on these candles, e.g.: {example}")
    return _result(study, storage_path, method, objective, names, handle.resumed)


def _key(values: Mapping[str, Any], names: Sequence[str]) -> tuple:
    return tuple(values[n] for n in names)


def _completed(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _best(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:
        return None


def _metric_cache(study: optuna.Study, names: Sequence[str]) -> dict[tuple, dict[str, float]]:
    """Metrics of parameter sets already evaluated in this study: repeats are not backtested again."""
    cache: dict[tuple, dict[str, float]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if all(n in trial.params for n in names) and METRICS_ATTR in trial.user_attrs:
            cache[_key(trial.params, names)] = dict(trial.user_attrs[METRICS_ATTR])
    return cache


def _failure_cache(study: optuna.Study, names: Sequence[str]) -> dict[tuple, str]:
    """Parameter sets that could not be evaluated on this study's data, with why."""
    failures: dict[tuple, str] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if all(n in trial.params for n in names) and ERROR_ATTR in trial.user_attrs:
            failures[_key(trial.params, names)] = str(trial.user_attrs[ERROR_ATTR])
    return failures


def _current_generation(study: optuna.Study, sampler: optuna.samplers.BaseSampler) -> int | None:
    if not isinstance(sampler, TournamentGASampler):
        return None
    key = sampler._get_generation_key()
    generations = [t.system_attrs.get(key, 0) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    return max(generations, default=0)


def _generation_room(study: optuna.Study, sampler: optuna.samplers.BaseSampler, population: int) -> int:
    """How many trials fit in the generation being filled: a batch never spans two generations.

    Optuna's GA base assigns a trial's generation from the completed trials when it is
    asked, so asking more than the room left would put them all in the current generation.
    """
    assert isinstance(sampler, TournamentGASampler)
    key = sampler._get_generation_key()
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return population
    latest = max(t.system_attrs.get(key, 0) for t in complete)
    filled = sum(1 for t in complete if t.system_attrs.get(key, 0) == latest)
    return population - filled if filled < population else population


def _result(study: optuna.Study, path: Path, method: str, objective: str, names: Sequence[str],
            resumed: int) -> OptimizationResult:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise BacktestInputError(f"study {study.study_name!r} has no completed trial")
    generation_key = TournamentGASampler._get_generation_key()
    rows = []
    for trial in complete:
        row: dict[str, Any] = {"number": trial.number, "generation": trial.system_attrs.get(generation_key)}
        row.update({n: trial.params[n] for n in names})
        row["value"] = trial.value
        metrics = trial.user_attrs.get(METRICS_ATTR, {})
        row.update({m: metrics.get(m) for m in METRIC_NAMES})
        rows.append(row)
    frame = pd.DataFrame(rows)
    best = study.best_trial
    return OptimizationResult(
        study_name=study.study_name, storage_path=path, method=method, objective=objective,
        best_params={n: best.params[n] for n in names}, best_value=float(best.value),
        best_metrics=dict(best.user_attrs.get(METRICS_ATTR, {})),
        trials=frame, resumed_trials=resumed, objective_values=frame["value"].to_numpy(dtype=np.float64))


class StrategyEvaluator:
    """Backtests parameter sets of one strategy on one candle frame: signals, then a parallel kernel call.

    A batch's signals come from one incremental-kernel run for all its sets (``signals=
    "kernels"``, indicators shared between sets) or set by set through pandas-ta with the
    strategy library's shared indicator cache (``"pandas-ta"``); both give the same signals.
    A parameter set whose look-back exceeds the candles comes back as a reason string.
    """

    def __init__(self, candles: pd.DataFrame, strategy: StrategyLike, config: BacktestConfig, timeframe: str,
                 signals: SignalEngine = "kernels"):
        self.candles = candles
        self.strategy = strategy
        self.config = config
        self.timeframe = timeframe
        self.signals = signals
        self.cache = indicator_cache(candles, strategy) if signals == "pandas-ta" else None

    def __call__(self, param_sets: Sequence[Mapping[str, ParamValue]]) -> list[dict[str, float] | str]:
        entries, exits, failures = signal_matrices(self.candles, self.strategy, param_sets, engine=self.signals,
                                                   cache=self.cache)
        rows = [i for i, failure in enumerate(failures) if failure is None]
        outcomes: list[dict[str, float] | str] = [failure or "" for failure in failures]
        if rows:
            metrics = simulate_matrix(self.candles, entries[rows], exits[rows], self.config, self.timeframe)
            for position, vector in zip(rows, metrics, strict=True):
                outcomes[position] = dict(zip(METRIC_NAMES, (float(x) for x in vector), strict=True))
        return outcomes


def study_directory(storage_dir: str | Path | None, settings: Settings | None) -> Path:
    """Where studies are kept: ``storage_dir``, else ``<settings.paths.home>/optuna``."""
    if storage_dir is not None:
        return Path(storage_dir).expanduser()
    if settings is not None:
        return settings.paths.home / "optuna"
    raise BacktestInputError("say where studies are kept: pass storage_dir=... or settings=Settings.load()")


def optimize(candles: pd.DataFrame, strategy: str | StrategyLike, *, pair: str, timeframe: str | None = None,
             method: Method = "ga", objective: str = "sharpe", config: BacktestConfig | None = None,
             ga: GAConfig | None = None, trials: int = 500, grid_points: int | None = None, seed: int = 0,
             storage_dir: str | Path | None = None, settings: Settings | None = None,
             study_name: str | None = None, fresh: bool = False,
             allow_gaps: bool = False, progress: Callable[[SearchProgress], None] | None = None,
             signals: SignalEngine = "kernels") -> OptimizationResult:
    """Optimize ``strategy``'s parameters on ``candles`` (persisted, resumable; see the module docstring).

    Studies are kept in ``storage_dir``, or ``<settings.paths.home>/optuna`` when ``settings``
    is given instead (see ``study_directory``).
    """
    spec = resolve_strategy(strategy)
    config = config or BacktestConfig()
    ga = ga or GAConfig()
    objective = normalize_objective(objective)
    candles, timeframe = validate_candles(candles, timeframe, allow_gaps=allow_gaps)
    storage_dir = study_directory(storage_dir, settings)
    fingerprint = {"config": config.as_dict(), "seed": seed, "bars": len(candles),
                   **({"population": ga.population} if method == "ga" else {}),
                   **({"grid_points": grid_points} if method == "grid" else {})}
    name = study_name or study_name_for(spec.name, pair, timeframe, candles.index[0], candles.index[-1], method,
                                        objective, fingerprint)
    description = {"strategy": spec.name, "pair": pair, "timeframe": timeframe,
                   "start": candles.index[0].isoformat(), "end": candles.index[-1].isoformat(),
                   "bars": len(candles), "config": config.as_dict()}
    return run_search(spec.space, StrategyEvaluator(candles, spec, config, timeframe, signals), study_name=name,
                      storage_path=storage_file(Path(storage_dir), name), method=method, objective=objective,
                      ga=ga, trials=trials, grid_points=grid_points, seed=seed, fresh=fresh, progress=progress,
                      description=description)
