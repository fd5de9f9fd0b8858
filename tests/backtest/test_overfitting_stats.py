"""Selection-bias statistics against published numbers and an independent implementation.

* PSR and DSR: Bailey and Lopez de Prado's numerical example ("The Deflated Sharpe Ratio",
  Journal of Portfolio Management 40(5), 2014), every intermediate value; and skfolio's
  implementation (a maintained PyPI package, run in the reference venv because its pins
  clash with Beam's) on seeded return series.
* PBO by CSCV: a case small enough to work out by hand (below), and the two limits the
  paper describes (skill-less trials ~ 1/2, one trial with real skill ~ 0). No maintained
  Python implementation fits (the maintained one is the R package ``pbo``; the PyPI ones
  are months-old single-author projects), so ``metrics.backtest_overfitting`` is written
  here from the paper and checked this way.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tradestream.backtest.metrics import (
    backtest_overfitting,
    deflated_sharpe,
    expected_max_sharpe,
    per_period_sharpe,
    probabilistic_sharpe,
    probabilistic_sharpe_from_moments,
)

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the paper's example

def test_deflated_sharpe_of_bailey_and_lopez_de_prados_numerical_example() -> None:
    """The paper's example: the best of N = 100 trials has an annualized Sharpe of 2.5 over
    T = 1,250 daily returns (250 a year) with skewness -3 and kurtosis 10; the trials' annualized
    Sharpe ratios have variance 1/2. Worked by hand (normal quantiles to 7 digits):

    * per-day Sharpe SR = 2.5 / sqrt(250) = 0.1581139
    * per-day variance of the trials V = 0.5 / 250 = 0.002, sqrt(V) = 0.0447214
    * Phi^-1(1 - 1/100) = 2.3263479, Phi^-1(1 - 1/(100 e)) = Phi^-1(0.9963212) = 2.6802104
    * (1 - gamma) x 2.3263479 + gamma x 2.6802104 = 0.9835434 + 1.5470595 = 2.5306029
    * SR0 = 0.0447214 x 2.5306029 = 0.1131720            (paper: 0.1132)
    * 1 - g3 SR + (g4 - 1)/4 SR^2 = 1 + 0.4743416 + 2.25 x 0.025 = 1.5305916, sqrt: 1.2371708
    * z = (0.1581139 - 0.1131720) sqrt(1249) / 1.2371708 = 0.0449419 x 35.3411941 / 1.2371708 = 1.2838160
    * DSR = Phi(1.2838160) = 0.9004                       (paper: 0.9004)
    """
    sr = per_period_sharpe(2.5, 250)
    assert sr == pytest.approx(0.1581139, abs=1e-7)
    assert expected_max_sharpe(1.0, 100) == pytest.approx(2.5306029, abs=1e-7)
    sr0 = expected_max_sharpe(0.5 / 250, 100)
    assert sr0 == pytest.approx(0.1131720, abs=1e-7) and round(sr0, 4) == 0.1132
    denominator = 1 - (-3) * sr + (10 - 1) / 4 * sr**2
    assert denominator == pytest.approx(1.5305916, abs=1e-7)
    z = (sr - sr0) * math.sqrt(1250 - 1) / math.sqrt(denominator)
    assert z == pytest.approx(1.2838160, abs=1e-6)
    dsr = probabilistic_sharpe_from_moments(sr, 1250, -3.0, 10.0, sr0)
    assert round(dsr, 4) == 0.9004
    # the same Sharpe without the selection (one trial) is near certain; normal returns (0, 3) help too
    assert probabilistic_sharpe_from_moments(sr, 1250, -3.0, 10.0, 0.0) > 0.9999
    assert probabilistic_sharpe_from_moments(sr, 1250, 0.0, 3.0, sr0) > dsr


# --------------------------------------------------------------------------- against skfolio

def _series(rng: np.random.Generator) -> list[np.ndarray]:
    normal = rng.normal(0.0004, 0.01, 1500)
    skewed = np.where(rng.random(1000) < 0.05, -0.04, 0.003) + rng.normal(0, 0.004, 1000)  # small gains, rare crashes
    fat = 0.0003 + 0.01 * rng.standard_t(3, 2000)
    losing = rng.normal(-0.0002, 0.008, 800)
    return [normal, skewed, fat, losing]


@pytest.fixture(scope="module")
def skfolio(reference_python, tmp_path_factory):
    rng = np.random.default_rng(20251203)
    items = []
    for i, returns in enumerate(_series(rng)):
        trial_sharpes = rng.normal(0.0, 0.02 + 0.01 * i, 40 + 30 * i)  # per-bar Sharpe ratios of the trials
        items.append({"returns": returns.tolist(), "benchmark": 0.01 * i, "trial_sharpes": trial_sharpes.tolist()})
    work = tmp_path_factory.mktemp("skfolio")
    (work / "in.json").write_text(json.dumps(items))
    ran = subprocess.run([reference_python, str(ROOT / "tests/backtest/skfolio_runner.py"), str(work / "in.json"),
                          str(work / "out.json")], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr[-3000:]
    return items, json.loads((work / "out.json").read_text())


def test_probabilistic_sharpe_equals_skfolios(skfolio) -> None:
    items, theirs = skfolio
    for item, answer in zip(items, theirs, strict=True):
        ours = probabilistic_sharpe(np.asarray(item["returns"]), item["benchmark"])
        assert ours == pytest.approx(answer["psr"], rel=1e-9, abs=1e-12)
    assert {round(a["psr"], 2) for a in theirs} != {1.0}, "the cases should not all be certain"


def test_deflated_sharpe_equals_skfolios(skfolio) -> None:
    items, theirs = skfolio
    for item, answer in zip(items, theirs, strict=True):
        trials = np.asarray(item["trial_sharpes"])
        ours = deflated_sharpe(np.asarray(item["returns"]), len(trials), float(np.var(trials, ddof=1)), 252.0)
        assert ours.probability == pytest.approx(answer["dsr"], rel=1e-9, abs=1e-12)
        assert ours.expected_max_sharpe / math.sqrt(252.0) == pytest.approx(answer["expected_max_sharpe"], rel=1e-9)


# --------------------------------------------------------------------------- PBO by CSCV

def test_pbo_of_a_case_worked_out_by_hand() -> None:
    """Three trials A, B, C; four blocks of two bars, each bar of a block returning the block's value;
    performance = mean return. Blocks (A, B, C): 1: (3, 1, 2), 2: (3, 2, 0), 3: (-1, 2, 1.5), 4: (-1, 0.4, 2.5).

    in sample | IS means A, B, C     | best | OOS means A, B, C   | best's OOS rank (1 = worst) | logit
    1, 2      | 3, 1.5, 1            | A    | -1, 1.2, 2          | 1                           | ln(1/3)
    1, 3      | 1, 1.5, 1.75         | C    | 1, 1.2, 1.25        | 3                           | ln 3
    1, 4      | 1, 0.7, 2.25         | C    | 1, 2, 0.75          | 1                           | ln(1/3)
    2, 3      | 1, 2, 0.75           | B    | 1, 0.7, 2.25        | 1                           | ln(1/3)
    2, 4      | 1, 1.2, 1.25         | C    | 1, 1.5, 1.75        | 3                           | ln 3
    3, 4      | -1, 1.2, 2           | C    | 3, 1.5, 1           | 1                           | ln(1/3)

    (w = rank / (N + 1) = 1/4 or 3/4.) Four of six logits are <= 0: PBO = 2/3.
    """
    blocks = np.array([[3, 1, 2], [3, 2, 0], [-1, 2, 1.5], [-1, 0.4, 2.5]], dtype=float)
    returns = np.repeat(blocks, 2, axis=0)
    result = backtest_overfitting(returns, splits=4, performance=lambda r: r.mean(axis=0))
    assert result.combinations == 6 and result.trials == 3
    np.testing.assert_allclose(result.logits, np.log([1 / 3, 3, 1 / 3, 1 / 3, 3, 1 / 3]), rtol=1e-12)
    assert result.pbo == pytest.approx(2 / 3)


def test_pbo_is_about_one_half_without_skill_and_near_zero_with_it() -> None:
    rng = np.random.default_rng(5)
    noise = rng.normal(0.0, 0.01, (2400, 40))
    skill_less = backtest_overfitting(noise, splits=8)
    assert skill_less.combinations == 70 and 0.3 < skill_less.pbo < 0.7
    noise[:, 13] += 0.003  # one trial with a real edge: best in sample and out of sample
    assert backtest_overfitting(noise, splits=8).pbo < 0.05


def test_pbo_refuses_what_it_cannot_split() -> None:
    with pytest.raises(ValueError, match="even number"):
        backtest_overfitting(np.zeros((100, 3)), splits=5)
    with pytest.raises(ValueError, match="at least 2 trials"):
        backtest_overfitting(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="too few"):
        backtest_overfitting(np.zeros((10, 3)), splits=8)
