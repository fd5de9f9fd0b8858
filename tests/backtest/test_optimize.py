"""Parameter search: the GA finds a known optimum, studies resume instead of restarting, every trial is kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from tests.backtest.builders import WindowStrategy, window_prices
from tradestream.backtest import BacktestConfig, BacktestInputError
from tradestream.backtest.ga import TournamentGASampler, draw_feasible
from tradestream.backtest.optimize import GAConfig, optimize, run_search, storage_file
from tradestream.params import Constraint, Param, ParamSpace

PEAK_SPACE = ParamSpace((Param("x", "int", 0, 80, 40), Param("y", "int", 0, 80, 10)),
                        (Constraint("y", "<", "x"),), owner="PEAK")


class CountingPeak:
    """sharpe = -(x - 61)^2 - (y - 17)^2: one optimum at x=61, y=17; counts what it evaluates."""

    def __init__(self) -> None:
        self.evaluated: list[tuple[int, int]] = []

    def __call__(self, batch):
        self.evaluated += [(p["x"], p["y"]) for p in batch]
        return [{"sharpe": -float((p["x"] - 61) ** 2 + (p["y"] - 17) ** 2)} for p in batch]


def _search(studies: Path, name: str, evaluate, **kwargs):
    return run_search(PEAK_SPACE, evaluate, study_name=name, storage_path=storage_file(studies, name), **kwargs)


def test_ga_finds_the_known_optimum_of_a_backtest(studies: Path) -> None:
    """Buying the lowest close (bar 37) and selling the highest (bar 83) is the one best window."""
    result = optimize(window_prices(), WindowStrategy(), pair="TEST-USD", timeframe="1m", objective="total_return",
                      config=BacktestConfig(fees=0.001), ga=GAConfig(generations=25), seed=0, storage_dir=studies)
    assert result.best_params == {"entry_bar": 37, "exit_bar": 83}
    closes = window_prices()["close"]
    assert result.best_value == pytest.approx(closes.iloc[83] / closes.iloc[37] * 0.999 / 1.001 - 1)
    assert result.n_trials == 25 * 50  # population 50 by default, every trial recorded


def test_ga_uses_tradestreams_operators_by_default() -> None:
    ga = GAConfig()
    assert (ga.population, ga.tournament, ga.crossover, ga.mutation) == (50, 3, 0.35, 0.15)
    sampler = TournamentGASampler(PEAK_SPACE)
    assert (sampler.population_size, sampler.tournament_size, sampler.crossover_prob, sampler.mutation_prob) == (
        50, 3, 0.35, 0.15)


def test_ga_only_breeds_parameters_that_satisfy_the_constraints(studies: Path) -> None:
    result = _search(studies, "constrained", CountingPeak(), ga=GAConfig(population=20, generations=5))
    assert (result.trials["y"] < result.trials["x"]).all()
    assert result.trials["x"].between(0, 80).all()


def test_a_resumed_study_continues_where_it_stopped(studies: Path) -> None:
    first_run = CountingPeak()
    first = _search(studies, "resume", first_run, ga=GAConfig(population=20, generations=3), seed=5)
    assert (first.n_trials, first.resumed_trials) == (60, 0)
    second_run = CountingPeak()
    second = _search(studies, "resume", second_run, ga=GAConfig(population=20, generations=6), seed=5)
    assert second.resumed_trials == 60 and second.n_trials == 120
    assert sorted(second.trials["number"]) == list(range(120))
    assert second.trials.groupby("generation").size().to_dict() == {g: 20 for g in range(6)}
    # Only generations 3-5 were bred and backtested the second time (repeats are served from the study).
    assert 0 < len(second_run.evaluated) <= 60
    assert not set(second_run.evaluated) & set(first_run.evaluated)
    # And the outcome is the study an uninterrupted run would have produced.
    straight = _search(studies, "straight", CountingPeak(), ga=GAConfig(population=20, generations=6), seed=5)
    resumed = second.trials.sort_values("number")[["number", "generation", "x", "y", "value"]]
    uninterrupted = straight.trials.sort_values("number")[["number", "generation", "x", "y", "value"]]
    assert resumed.reset_index(drop=True).equals(uninterrupted.reset_index(drop=True))


def test_every_trial_is_recorded_with_all_its_metrics(studies: Path) -> None:
    result = optimize(window_prices(), WindowStrategy(), pair="TEST-USD", timeframe="1m", method="random",
                      trials=30, storage_dir=studies)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(result.storage_path)))
    study = optuna.load_study(study_name=result.study_name, storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 30
    for trial in complete:
        metrics = trial.user_attrs["metrics"]
        assert metrics["sharpe"] == trial.value
        assert {"total_return", "max_drawdown", "number_of_trades", "score"} <= set(metrics)


def test_objective_can_be_the_composite_score(studies: Path) -> None:
    result = optimize(window_prices(), WindowStrategy(), pair="TEST-USD", timeframe="1m", method="random",
                      objective="composite", trials=20, storage_dir=studies)
    assert result.objective == "score"
    assert result.best_value == pytest.approx(result.trials["score"].max())
    with pytest.raises(BacktestInputError, match="objective 'luck' is not one of"):
        optimize(window_prices(), WindowStrategy(), pair="TEST-USD", timeframe="1m", objective="luck",
                 storage_dir=studies)


def test_grid_search_covers_the_feasible_grid_once(studies: Path) -> None:
    space = ParamSpace((Param("x", "int", 0, 80, 40, step=20), Param("y", "int", 0, 80, 0, step=20)),
                       (Constraint("y", "<", "x"),), owner="PEAK")
    peak = CountingPeak()
    result = run_search(space, peak, study_name="grid", storage_path=storage_file(studies, "grid"), method="grid")
    expected = {(x, y) for x in range(0, 81, 20) for y in range(0, 81, 20) if y < x}
    assert set(peak.evaluated) == expected and len(peak.evaluated) == len(expected) == 10
    again = run_search(space, peak, study_name="grid", storage_path=storage_file(studies, "grid"), method="grid")
    assert again.n_trials == 10 and len(peak.evaluated) == 10  # resuming a finished grid evaluates nothing
    assert result.best_params == {"x": 60, "y": 20}


def test_random_search_draws_feasible_parameters_reproducibly(studies: Path) -> None:
    a = _search(studies, "random-a", CountingPeak(), method="random", trials=40, seed=3)
    b = _search(studies, "random-b", CountingPeak(), method="random", trials=40, seed=3)
    assert a.trials[["x", "y"]].equals(b.trials[["x", "y"]])
    assert (a.trials["y"] < a.trials["x"]).all()
    rng = np.random.default_rng(0)
    assert all(PEAK_SPACE.is_feasible(draw_feasible(PEAK_SPACE, rng)) for _ in range(100))


def test_parameters_needing_more_history_fail_their_trial_not_the_search(studies: Path) -> None:
    def evaluate(batch):
        return [f"needs {p['x'] * 10} candles" if p["x"] > 70 else {"sharpe": float(p["x"])} for p in batch]

    result = _search(studies, "failing", evaluate, method="random", trials=50, seed=1)
    assert result.n_trials == 50 and result.trials["x"].max() <= 70
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        str(storage_file(studies, "failing"))))
    failed = [t for t in optuna.load_study(study_name="failing", storage=storage).trials
              if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.user_attrs["error"].startswith("needs ") for t in failed)
    with pytest.raises(BacktestInputError, match="could not be evaluated on these candles, e.g.: needs"):
        _search(studies, "hopeless", lambda batch: ["needs more candles"] * len(batch), method="random", trials=5)


def test_a_study_run_with_other_settings_is_not_mixed_in(studies: Path) -> None:
    _search(studies, "settings", CountingPeak(), ga=GAConfig(population=10, generations=1))
    with pytest.raises(BacktestInputError, match=r"was run with different settings \(population\)"):
        _search(studies, "settings", CountingPeak(), ga=GAConfig(population=20, generations=1))
    fresh = _search(studies, "settings", CountingPeak(), ga=GAConfig(population=20, generations=1), fresh=True)
    assert fresh.n_trials == 20 and fresh.resumed_trials == 0


def test_study_names_follow_the_inputs_so_a_rerun_resumes(studies: Path) -> None:
    candles = window_prices()
    kwargs = dict(pair="TEST-USD", timeframe="1m", method="random", trials=10, storage_dir=studies)
    first = optimize(candles, WindowStrategy(), **kwargs)
    again = optimize(candles, WindowStrategy(), **{**kwargs, "trials": 15})
    other_fees = optimize(candles, WindowStrategy(), config=BacktestConfig(fees=0.002), **kwargs)
    assert first.study_name == again.study_name and again.resumed_trials == 10
    assert first.study_name.startswith("TEST_WINDOW:TEST-USD:1m:20240101T0000-20240101T0159:random:sharpe:")
    assert other_fees.study_name != first.study_name and other_fees.resumed_trials == 0


def test_studies_live_where_the_caller_says(tmp_path: Path) -> None:
    from tradestream.settings import PathSettings, Settings

    candles = window_prices()
    with pytest.raises(BacktestInputError, match="say where studies are kept"):
        optimize(candles, WindowStrategy(), pair="TEST-USD", timeframe="1m", method="random", trials=2)
    settings = Settings(paths=PathSettings(home=tmp_path / "home"))
    result = optimize(candles, WindowStrategy(), pair="TEST-USD", timeframe="1m", method="random", trials=2,
                      settings=settings)
    assert result.storage_path.parent == tmp_path / "home" / "optuna" and result.storage_path.exists()
