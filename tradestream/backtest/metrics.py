"""Performance metrics of a backtest, computed on the strategy's own equity curve.

The arithmetic lives in the numba kernel ``_kernels.compute_metrics`` (shared by single
runs and grids); this module names the numbers, and adds the statistics that look across
many trials: the probabilistic and deflated Sharpe ratios of Bailey and Lopez de Prado, and the
probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).
Every formula is written out in docs/backtesting.md. PBO is written here because no
maintained PyPI library we found computes it (skfolio, checked against for the deflated
Sharpe, has combinatorial cross-validation but no PBO); it is checked against a case worked
out by hand from the paper's definition (tests/backtest/test_overfitting_stats.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from statistics import NormalDist

import numpy as np

from tradestream.backtest import _kernels as k

# Slot order of the kernel's metrics vector.
METRIC_NAMES: tuple[str, ...] = (
    "total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
    "max_drawdown_duration_bars", "win_rate", "profit_factor", "expectancy", "number_of_trades",
    "average_trade_duration_bars", "exposure", "alpha", "beta", "score", "final_equity",
)
assert len(METRIC_NAMES) == k.M_FIELDS

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Metrics:
    """Metrics of one backtest. Ratios are fractions (0.12 = 12 %); durations are in bars."""

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration_bars: float
    win_rate: float
    profit_factor: float
    expectancy: float
    number_of_trades: int
    average_trade_duration_bars: float
    exposure: float
    alpha: float
    beta: float
    score: float
    final_equity: float

    @classmethod
    def from_vector(cls, vector: Sequence[float]) -> Metrics:
        values = dict(zip(METRIC_NAMES, (float(v) for v in vector), strict=True))
        values["number_of_trades"] = int(values["number_of_trades"])
        return cls(**values)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def __getitem__(self, name: str) -> float:
        return getattr(self, name)


METRIC_FIELDS = tuple(f.name for f in fields(Metrics))
assert METRIC_FIELDS == METRIC_NAMES


def per_period_sharpe(sharpe: float, periods_per_year: float) -> float:
    """Undo the sqrt(periods per year) annualization of a Sharpe ratio."""
    return sharpe / math.sqrt(periods_per_year)


def probabilistic_sharpe(returns: np.ndarray, benchmark_sharpe: float = 0.0) -> float:
    """P(true Sharpe > ``benchmark_sharpe``) given per-bar ``returns`` (Bailey & Lopez de Prado 2012).

    PSR = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)), with SR the
    per-bar Sharpe, g3 the skewness and g4 the (non-excess) kurtosis of the returns.
    """
    returns = np.asarray(returns, dtype=np.float64)
    t = returns.shape[0]
    if t < 3:
        raise ValueError(f"the probabilistic Sharpe needs at least 3 returns, got {t}")
    std = returns.std(ddof=1)
    if std == 0:
        return 0.0
    sharpe = returns.mean() / std
    centred = returns - returns.mean()
    m2 = np.mean(centred**2)
    skew = np.mean(centred**3) / m2**1.5 if m2 > 0 else 0.0
    kurt = np.mean(centred**4) / m2**2 if m2 > 0 else 3.0
    return probabilistic_sharpe_from_moments(sharpe, t, skew, kurt, benchmark_sharpe)


def probabilistic_sharpe_from_moments(sharpe: float, observations: int, skewness: float, kurtosis: float,
                                      benchmark_sharpe: float = 0.0) -> float:
    """The PSR from its inputs: per-bar Sharpe, number of returns, skewness, non-excess kurtosis."""
    denominator = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if denominator <= 0:
        denominator = 1e-12  # extreme skew: the estimate is as certain as it gets
    return _NORMAL.cdf((sharpe - benchmark_sharpe) * math.sqrt(observations - 1) / math.sqrt(denominator))


def expected_max_sharpe(trial_sharpe_variance: float, trials: int) -> float:
    """SR0: the highest per-bar Sharpe expected among ``trials`` skill-less trials.

    SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))), with V the
    variance of the trials' Sharpe ratios and gamma the Euler-Mascheroni constant.
    """
    if trials < 1:
        raise ValueError(f"trials={trials} must be at least 1")
    if trials == 1 or trial_sharpe_variance <= 0:
        return 0.0
    first = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    second = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return math.sqrt(trial_sharpe_variance) * ((1.0 - EULER_GAMMA) * first + EULER_GAMMA * second)


@dataclass(frozen=True)
class DeflatedSharpe:
    """The Sharpe ratio after accounting for how many trials it was picked from.

    ``deflated`` is the annualized Sharpe minus the annualized SR0 (the best Sharpe that
    ``trials`` skill-less trials would show by luck); ``probability`` is Bailey and
    Lopez de Prado's DSR: P(true Sharpe > SR0).
    """

    sharpe: float
    expected_max_sharpe: float
    deflated: float
    probability: float
    trials: int


def deflated_sharpe(returns: np.ndarray, trials: int, trial_sharpe_variance: float,
                    periods_per_year: float) -> DeflatedSharpe:
    """Deflated Sharpe of per-bar ``returns`` chosen among ``trials`` with per-bar Sharpe variance given."""
    returns = np.asarray(returns, dtype=np.float64)
    std = returns.std(ddof=1) if returns.shape[0] > 1 else 0.0
    per_bar = returns.mean() / std if std > 0 else 0.0
    sr0 = expected_max_sharpe(trial_sharpe_variance, trials)
    root = math.sqrt(periods_per_year)
    return DeflatedSharpe(
        sharpe=per_bar * root,
        expected_max_sharpe=sr0 * root,
        deflated=(per_bar - sr0) * root,
        probability=probabilistic_sharpe(returns, sr0),
        trials=trials,
    )


@dataclass(frozen=True)
class BacktestOverfitting:
    """Bailey, Borwein, Lopez de Prado and Zhu's probability of backtest overfitting, by CSCV.

    ``pbo`` is the share of the ``combinations`` train/test splits in which the parameter
    set that was best in sample ranks in the lower half out of sample (logit <= 0).
    """

    pbo: float
    logits: np.ndarray
    combinations: int
    splits: int
    trials: int


def backtest_overfitting(returns: np.ndarray, splits: int = 8,
                         performance: Callable[[np.ndarray], np.ndarray] | None = None) -> BacktestOverfitting:
    """PBO of choosing the best of ``returns``' columns (T bars x N trials) by combinatorially symmetric
    cross-validation (Bailey et al., "The Probability of Backtest Overfitting", 2015).

    The rows are cut into ``splits`` (even) equal blocks, in order (the first ``T mod splits`` rows
    are dropped). For each of the C(S, S/2) ways to pick half the blocks as in-sample, the trial
    with the best in-sample ``performance`` (default: per-bar Sharpe, 0 without dispersion) is
    ranked among all trials on the other half: relative rank w = rank / (N + 1), rank 1 the
    worst, ties broken by column order; logit = ln(w / (1 - w)). PBO is the share of logits <= 0.
    """
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2 or returns.shape[1] < 2:
        raise ValueError(f"returns must be bars x trials with at least 2 trials, got shape {returns.shape}")
    if splits < 2 or splits % 2:
        raise ValueError(f"splits={splits} must be an even number >= 2")
    block = returns.shape[0] // splits
    if block < 2:
        raise ValueError(f"{returns.shape[0]} bars are too few for {splits} splits of at least 2 bars")
    score = performance or _column_sharpe
    blocks = returns[returns.shape[0] - block * splits:].reshape(splits, block, returns.shape[1])
    trials = returns.shape[1]
    logits = []
    for chosen in itertools.combinations(range(splits), splits // 2):
        rest = [b for b in range(splits) if b not in chosen]
        in_sample = score(blocks[list(chosen)].reshape(-1, trials))
        out_of_sample = score(blocks[rest].reshape(-1, trials))
        best = int(np.argmax(in_sample))
        order = np.argsort(out_of_sample, kind="stable")  # ascending: position 0 is the worst
        rank = int(np.flatnonzero(order == best)[0]) + 1
        w = rank / (trials + 1)
        logits.append(math.log(w / (1 - w)))
    values = np.asarray(logits)
    return BacktestOverfitting(float(np.mean(values <= 0)), values, values.shape[0], splits, trials)


def _column_sharpe(returns: np.ndarray) -> np.ndarray:
    std = returns.std(axis=0, ddof=1)
    mean = returns.mean(axis=0)
    return np.divide(mean, std, out=np.zeros_like(mean), where=std > 0)
