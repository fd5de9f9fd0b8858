"""Samplers that search a ``ParamSpace`` inside Optuna: TradeStream's genetic algorithm and random search.

Why not Optuna's ``NSGAIISampler``: it picks parents by binary tournament (fixed at 2),
which cannot express TradeStream's tournament of 3, and it knows nothing of a space's
constraints (``fast < slow``). ``TournamentGASampler`` is a thin layer on Optuna's own
``BaseGASampler`` (which keeps generations and parent populations in the study storage,
so an interrupted study resumes where it stopped) with TradeStream's operators:

- generation 0: ``population_size`` individuals drawn uniformly from the feasible space;
- parents of generation g: the best ``population_size`` distinct individuals among
  generation g-1 and its parents (elitist, so the best found is never lost);
- each child: two parents by tournament selection of ``tournament_size`` (3); with
  probability ``crossover_prob`` (0.35) single-point crossover over the parameter order,
  else a copy of the first parent; then each parameter is redrawn uniformly from its range
  with probability ``mutation_prob`` (0.15), as Jenetics' Mutator does for a gene;
- a child that violates a constraint is bred again (up to 100 times), then drawn at random.

Every draw uses a generator seeded by (seed, trial number), so a study run in one go and
one interrupted and resumed sample the same individuals.

``BaseGASampler`` is private Optuna API (``optuna.samplers._ga``), hence the upper bound on
Optuna in pyproject.toml.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.samplers._ga import BaseGASampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tradestream.params import Param, ParamSpace, ParamValue

MAX_REPAIRS = 100


def param_distribution(param: Param) -> BaseDistribution:
    """The Optuna distribution of one parameter (ints keep their grid step)."""
    if param.type == "int":
        step = int(param.step or 1)
        low = int(param.min)
        high = low + (int(param.max) - low) // step * step
        return IntDistribution(low, high, step=step)
    return FloatDistribution(float(param.min), float(param.max))


def space_distributions(space: ParamSpace) -> dict[str, BaseDistribution]:
    return {p.name: param_distribution(p) for p in space}


def draw_value(param: Param, rng: np.random.Generator) -> ParamValue:
    """A uniform draw from one parameter's range (its step grid for ints)."""
    if param.type == "int":
        dist = param_distribution(param)
        assert isinstance(dist, IntDistribution)
        return int(dist.low + rng.integers(0, (dist.high - dist.low) // dist.step + 1) * dist.step)
    return float(rng.uniform(param.min, param.max))


def draw_feasible(space: ParamSpace, rng: np.random.Generator) -> dict[str, ParamValue]:
    """A uniform draw from the feasible part of the space (rejection sampling)."""
    for _ in range(10_000):
        values = {p.name: draw_value(p, rng) for p in space}
        if space.is_feasible(values):
            return values
    raise ValueError(f"{space.owner}: no feasible parameters found in 10000 draws; check the constraints")


def _key(params: dict[str, Any], names: Sequence[str]) -> tuple:
    return tuple(params[n] for n in names)


def _better(a: FrozenTrial, b: FrozenTrial, direction: StudyDirection) -> bool:
    va, vb = a.value, b.value
    assert va is not None and vb is not None
    if math.isnan(vb):
        return True
    return va > vb if direction == StudyDirection.MAXIMIZE else va < vb


class _SpaceSampler(BaseSampler):
    """Shared plumbing: the search space is the ParamSpace, and every draw is seeded per trial."""

    def __init__(self, space: ParamSpace, seed: int = 0):
        self._space = space
        self._seed = int(seed)
        self._distributions = space_distributions(space)

    def _rng(self, trial: FrozenTrial) -> np.random.Generator:
        return np.random.default_rng([self._seed, trial.number])

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._distributions)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        # Only reached for a parameter outside the space; draw it uniformly all the same.
        rng = self._rng(trial)
        if isinstance(param_distribution, IntDistribution):
            steps = (param_distribution.high - param_distribution.low) // param_distribution.step
            return int(param_distribution.low + rng.integers(0, steps + 1) * param_distribution.step)
        if isinstance(param_distribution, FloatDistribution):
            return float(rng.uniform(param_distribution.low, param_distribution.high))
        raise ValueError(f"parameter {param_name} has an unsupported distribution {param_distribution}")


class FeasibleRandomSampler(_SpaceSampler):
    """Random search: every trial drawn uniformly from the feasible space."""

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return draw_feasible(self._space, self._rng(trial))


class TournamentGASampler(_SpaceSampler, BaseGASampler):
    """TradeStream's genetic algorithm on Optuna (see the module docstring for the operators)."""

    def __init__(self, space: ParamSpace, *, population_size: int = 50, tournament_size: int = 3,
                 crossover_prob: float = 0.35, mutation_prob: float = 0.15, seed: int = 0):
        if population_size < 2:
            raise ValueError(f"population_size={population_size} must be at least 2")
        if tournament_size < 1:
            raise ValueError(f"tournament_size={tournament_size} must be at least 1")
        for name, p in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name}={p} is outside [0, 1]")
        _SpaceSampler.__init__(self, space, seed)
        BaseGASampler.__init__(self, population_size)
        self.tournament_size = tournament_size
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        self._parents: dict[tuple[int, str, int], list[FrozenTrial]] = {}

    def get_trial_generation(self, study: Study, trial: FrozenTrial) -> int:
        """Optuna's rule (fill the newest generation up to the population size) in O(population).

        The base class scans every completed trial per ask, quadratic over a long study.
        Trials are asked a generation at a time, so generations ascend with trial number and
        the scan can stop at the first trial of an older generation.
        """
        key = self._get_generation_key()
        generation = trial.system_attrs.get(key)
        if generation is not None:
            return generation
        latest, count = 0, 0
        for done in reversed(study._get_trials(deepcopy=False, states=[TrialState.COMPLETE], use_cache=True)):
            value = done.system_attrs.get(key, -1)
            if value > latest:
                latest, count = value, 1
            elif value == latest:
                count += 1
            else:
                break
        generation = latest if count < self.population_size else latest + 1
        study._storage.set_trial_system_attr(trial._trial_id, key, generation)
        return generation

    def get_parent_population(self, study: Study, generation: int) -> list[FrozenTrial]:
        """The base class's (persisted) parent population, memoized, in trial-number order.

        It never changes once chosen; a fixed order keeps tournaments reproducible whether
        the population was just selected or read back from the study after a restart.
        """
        key = (study._study_id, study.study_name, generation)
        if key not in self._parents:
            parents = BaseGASampler.get_parent_population(self, study, generation)
            self._parents[key] = sorted(parents, key=lambda t: t.number)
        return self._parents[key]

    def select_parent(self, study: Study, generation: int) -> list[FrozenTrial]:
        pool = self.get_population(study, generation - 1) + self.get_parent_population(study, generation - 1)
        finite = [t for t in pool if t.value is not None and not math.isnan(t.value)]
        reverse = study.direction == StudyDirection.MAXIMIZE
        finite.sort(key=lambda t: (t.value, -t.number) if reverse else (-t.value, -t.number), reverse=True)
        elite, seen = [], set()
        for trial in finite:
            key = _key(trial.params, self._space.names)
            if key in seen:
                continue
            seen.add(key)
            elite.append(trial)
            if len(elite) == self.population_size:
                break
        return elite

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        rng = self._rng(trial)
        generation = self.get_trial_generation(study, trial)
        parents = self.get_parent_population(study, generation)
        if not parents:
            return draw_feasible(self._space, rng)
        for _ in range(MAX_REPAIRS):
            child = self._breed(parents, study.direction, rng)
            if self._space.is_feasible(child):
                return child
        return draw_feasible(self._space, rng)

    def _tournament(self, parents: list[FrozenTrial], direction: StudyDirection,
                    rng: np.random.Generator) -> FrozenTrial:
        picks = rng.integers(0, len(parents), self.tournament_size)
        best = parents[picks[0]]
        for index in picks[1:]:
            if _better(parents[index], best, direction):
                best = parents[index]
        return best

    def _breed(self, parents: list[FrozenTrial], direction: StudyDirection,
               rng: np.random.Generator) -> dict[str, ParamValue]:
        names = self._space.names
        first = self._tournament(parents, direction, rng)
        second = self._tournament(parents, direction, rng)
        child = {n: first.params[n] for n in names}
        if len(names) > 1 and rng.random() < self.crossover_prob:
            cut = int(rng.integers(1, len(names)))
            for n in names[cut:]:
                child[n] = second.params[n]
        for param in self._space:
            if rng.random() < self.mutation_prob:
                child[param.name] = draw_value(param, rng)
        return child

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        return None
