"""Metrics on cases small enough to work out by hand, and the trial-aware Sharpe statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.backtest.builders import bars, make_candles, random_walk
from tradestream.backtest import BacktestConfig, run_backtest
from tradestream.backtest.metrics import deflated_sharpe, expected_max_sharpe, probabilistic_sharpe

# Two round trips on daily bars (365 a year), no costs:
#   bar:    0     1     2     3     4     5     6
#   close:  100   100   110   121   110   110   99
#   buy at bar 1 (100), sell at bar 3 (121): +21 %, 10 units, pnl +210
#   buy at bar 4 (110), sell at bar 6 (99):  -10 %, 11 units, pnl -121
#   equity: 1000 1000  1100  1210  1210  1210  1089
#   returns:   0    0   0.1   0.1     0     0  -0.1
TWO_TRADES = dict(close=[100, 100, 110, 121, 110, 110, 99], entries=(1, 4), exits=(3, 6))


def two_trades(**config):
    candles = make_candles(TWO_TRADES["close"], timeframe="1d")
    n = len(candles)
    return run_backtest(candles, bars(n, *TWO_TRADES["entries"]), bars(n, *TWO_TRADES["exits"]),
                        BacktestConfig(cash=1000.0, fees=0.0, **config), timeframe="1d")


def test_returns_of_two_hand_computed_trades() -> None:
    run = two_trades()
    m = run.metrics
    assert run.equity.tolist() == pytest.approx([1000, 1000, 1100, 1210, 1210, 1210, 1089])
    assert m.final_equity == pytest.approx(1089.0)
    assert m.total_return == pytest.approx(0.089)
    assert m.cagr == pytest.approx(1.089 ** (365 / 7) - 1)  # 84.26: seven days compounded to a year
    assert run.trades["pnl"].tolist() == pytest.approx([210.0, -121.0])
    assert run.trades["return"].tolist() == pytest.approx([0.21, -0.10])


def test_sharpe_sortino_and_volatility_of_two_hand_computed_trades() -> None:
    m = two_trades().metrics
    mean = 0.1 / 7  # (0.1 + 0.1 - 0.1) / 7 bars
    variance = (0.03 - 7 * mean**2) / 6  # sample variance: sum of r^2 is 3 * 0.01
    assert m.volatility == pytest.approx(math.sqrt(variance) * math.sqrt(365))
    assert m.sharpe == pytest.approx(mean / math.sqrt(variance) * math.sqrt(365))
    assert m.sharpe == pytest.approx(3.95511, rel=1e-5)
    downside = math.sqrt(0.01 / 7)  # only the -0.1 bar is below zero
    assert m.sortino == pytest.approx(mean / downside * math.sqrt(365))


def test_drawdown_and_its_duration_of_two_hand_computed_trades() -> None:
    m = two_trades().metrics
    assert m.max_drawdown == pytest.approx(121 / 1210)  # 1210 -> 1089
    assert m.max_drawdown_duration_bars == 1  # from the last bar at the 1210 peak to the end, unrecovered
    assert m.calmar == pytest.approx((1.089 ** (365 / 7) - 1) / 0.1)


def test_trade_statistics_of_two_hand_computed_trades() -> None:
    m = two_trades().metrics
    assert m.number_of_trades == 2
    assert m.win_rate == pytest.approx(0.5)
    assert m.profit_factor == pytest.approx(210 / 121)
    assert m.expectancy == pytest.approx((0.21 - 0.10) / 2)
    assert m.average_trade_duration_bars == pytest.approx(2.0)
    assert m.exposure == pytest.approx(4 / 7)  # long at the close of bars 1, 2, 4, 5


def test_composite_score_follows_tradestreams_weights() -> None:
    m = two_trades().metrics

    def norm(x: float) -> float:
        return min(max((x + 1) / 3, 0.0), 1.0)

    expected = 0.25 * norm(m.sharpe) + 0.20 * (1 - 0.1) + 0.20 * 0.5 + 0.20 * norm(m.cagr) + 0.15 * norm(210 / 121)
    assert m.score == pytest.approx(expected)
    assert m.score == pytest.approx(0.25 + 0.18 + 0.10 + 0.20 + 0.15 * (210 / 121 + 1) / 3)


def test_fees_and_slippage_are_charged_on_both_sides() -> None:
    # 1 % fees and 100 bp slippage: buy fill 101, 1000 / 1.01 spent on units; sell fill 121 * 0.99, less 1 %.
    candles = make_candles([100, 100, 110, 121], timeframe="1d")
    run = run_backtest(candles, bars(4, 1), bars(4, 3), BacktestConfig(cash=1000.0, fees=0.01, slippage_bps=100),
                       timeframe="1d")
    trade = run.trades.iloc[0]
    assert trade["entry_price"] == pytest.approx(101.0)
    assert trade["exit_price"] == pytest.approx(121 * 0.99)
    assert trade["size"] == pytest.approx(1000 / 1.01 / 101)
    assert trade["entry_fees"] == pytest.approx(1000 - 1000 / 1.01)
    assert run.metrics.final_equity == pytest.approx(1000 * 1.21 * 0.99**2 / 1.01**2)


def test_alpha_and_beta_regress_strategy_returns_on_the_asset() -> None:
    candles = random_walk(400, seed=5)
    rng = np.random.default_rng(1)
    entries, exits = rng.random(400) < 0.05, rng.random(400) < 0.05
    run = run_backtest(candles, entries, exits, BacktestConfig(fees=0.0005), timeframe="1m")
    strategy = run.equity.pct_change().to_numpy()[1:]
    market = candles["close"].pct_change().to_numpy()[1:]
    beta = np.cov(strategy, market)[0, 1] / np.var(market, ddof=1)
    assert run.metrics.beta == pytest.approx(beta, rel=1e-9)
    assert run.metrics.alpha == pytest.approx((strategy.mean() - beta * market.mean()) * 525_600, rel=1e-9)


def test_a_strategy_that_never_enters_has_flat_metrics_and_says_so() -> None:
    candles = random_walk(200, seed=2)
    run = run_backtest(candles, np.zeros(200, bool), np.ones(200, bool), timeframe="1m")
    m = run.metrics
    assert (m.total_return, m.sharpe, m.max_drawdown, m.number_of_trades, m.exposure) == (0.0, 0.0, 0.0, 0, 0.0)
    assert run.warnings and "no entry signal in 200 bars" in run.warnings[0]


def test_annualization_follows_the_timeframe() -> None:
    closes = [100, 101, 99, 102, 103, 101, 104]
    entries, exits = bars(7, 0), bars(7, 6)
    sharpe = {tf: run_backtest(make_candles(closes, timeframe=tf), entries, exits, BacktestConfig(fees=0.0),
                               timeframe=tf).metrics.sharpe for tf in ("1m", "1h", "1d")}
    assert sharpe["1m"] / sharpe["1d"] == pytest.approx(math.sqrt(1440))
    assert sharpe["1h"] / sharpe["1d"] == pytest.approx(math.sqrt(24))


def test_expected_max_sharpe_of_100_trials_matches_bailey_and_lopez_de_prado() -> None:
    assert expected_max_sharpe(1.0, 100) == pytest.approx(2.5306, abs=1e-4)
    assert expected_max_sharpe(0.25, 100) == pytest.approx(2.5306 / 2, abs=1e-4)
    assert expected_max_sharpe(1.0, 1) == 0.0


def test_deflated_sharpe_is_below_plain_sharpe_when_trials_are_many() -> None:
    rng = np.random.default_rng(11)
    returns = rng.normal(0.0004, 0.01, 2000)  # a modest positive edge
    one = deflated_sharpe(returns, trials=1, trial_sharpe_variance=0.0004, periods_per_year=365)
    many = deflated_sharpe(returns, trials=500, trial_sharpe_variance=0.0004, periods_per_year=365)
    assert one.deflated == pytest.approx(one.sharpe)  # one trial: nothing to deflate
    assert many.deflated < many.sharpe
    assert many.expected_max_sharpe > 0
    assert many.probability < one.probability
    assert one.probability == pytest.approx(probabilistic_sharpe(returns, 0.0))
    deflations = [deflated_sharpe(returns, n, 0.0004, 365).deflated for n in (2, 10, 100, 1000)]
    assert deflations == sorted(deflations, reverse=True)


def test_probabilistic_sharpe_rises_with_a_longer_track_record() -> None:
    rng = np.random.default_rng(4)
    returns = rng.normal(0.001, 0.01, 4000)
    assert probabilistic_sharpe(returns[:200]) < probabilistic_sharpe(returns) < 1.0
    with pytest.raises(ValueError, match="at least 3 returns"):
        probabilistic_sharpe(returns[:2])
