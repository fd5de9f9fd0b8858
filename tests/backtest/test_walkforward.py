"""Walk-forward: non-overlapping out-of-sample folds, warm signals, pass/fail against thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.backtest.builders import CycleStrategy, cycle_prices, make_candles, random_walk
from tradestream.backtest import BacktestConfig, BacktestInputError
from tradestream.backtest.optimize import GAConfig
from tradestream.backtest.walkforward import WalkForwardConfig, make_folds, walk_forward
from tradestream.params import Param, ParamSpace


@pytest.mark.parametrize("anchored", [False, True])
def test_out_of_sample_windows_tile_the_history_without_overlap(anchored: bool) -> None:
    folds = make_folds(10_000, "1m", WalkForwardConfig(folds=6, in_sample_ratio=3.0, anchored=anchored))
    assert len(folds) == 6
    for fold, following in zip(folds, folds[1:], strict=False):
        assert fold.out_of_sample.stop == following.out_of_sample.start  # contiguous, never overlapping
    for fold in folds:
        assert fold.in_sample.stop == fold.out_of_sample.start  # in-sample right before its test window
        assert fold.out_of_sample.stop - fold.out_of_sample.start == 1111
        assert fold.in_sample.start == (0 if anchored else fold.number * 1111)
    assert folds[-1].out_of_sample.stop <= 10_000


def test_folds_from_durations_fit_as_many_as_the_history_holds() -> None:
    folds = make_folds(10 * 1440, "1m", WalkForwardConfig(in_sample="3D", out_of_sample="1D"))
    assert len(folds) == 7
    assert {f.out_of_sample.stop - f.out_of_sample.start for f in folds} == {1440}
    assert {f.in_sample.stop - f.in_sample.start for f in folds} == {3 * 1440}


@pytest.mark.parametrize(("config", "bars", "message"), [
    (WalkForwardConfig(folds=20), 200, "leave 24 in-sample and 8 out-of-sample bars per fold; each needs at least 10"),
    (WalkForwardConfig(in_sample="10D", out_of_sample="1D"), 1440, "cannot hold one fold"),
    (WalkForwardConfig(in_sample="90s", out_of_sample="1D"), 10_000, "in_sample='90s' is not a whole number"),
])
def test_impossible_folds_are_refused_with_the_numbers(config, bars: int, message: str) -> None:
    with pytest.raises(BacktestInputError, match=message):
        make_folds(bars, "1m", config)


def test_a_strategy_with_a_real_edge_passes(studies: Path) -> None:
    """A 60-minute price cycle: buying near the trough and selling near the crest works out of sample too."""
    report = walk_forward(cycle_prices(days=2), CycleStrategy(), pair="TEST-USD", timeframe="1m",
                          config=BacktestConfig(fees=0.0005), walk=WalkForwardConfig(folds=4, in_sample_ratio=2.0),
                          ga=GAConfig(population=20, generations=6), seed=1, storage_dir=studies)
    assert report.passed, report.reasons
    assert len(report.folds) == 4
    # the cycle is real: the set best in sample stays in the upper half out of sample in most CSCV splits
    assert report.overfitting is not None and report.overfitting.pbo < 0.3
    assert report.mean_out_of_sample_sharpe >= 0.5 and report.degradation <= 0.5
    for fold in report.folds:
        buy, sell = fold.best_params["buy_phase"], fold.best_params["sell_phase"]
        assert (sell - buy) % 60 >= 15  # holds through the rising half of the cycle
    # The chained out-of-sample equity covers exactly the out-of-sample bars, in order.
    spans = [(f.out_of_sample_start, f.out_of_sample_end) for f in report.folds]
    assert report.out_of_sample_equity.index[0] == spans[0][0]
    assert report.out_of_sample_equity.index[-1] == spans[-1][1]
    assert report.out_of_sample_equity.index.is_unique and report.out_of_sample_equity.index.is_monotonic_increasing


def test_an_overfit_strategy_on_noise_fails_with_reasons(studies: Path) -> None:
    report = walk_forward(random_walk(4 * 1440, seed=12), CycleStrategy(), pair="TEST-USD", timeframe="1m",
                          config=BacktestConfig(fees=0.001), walk=WalkForwardConfig(folds=3, in_sample_ratio=3.0),
                          method="random", trials=40, seed=2, storage_dir=studies)
    assert not report.passed
    assert any("out-of-sample Sharpe" in r for r in report.reasons)
    assert report.deflated.deflated < report.deflated.sharpe  # 120 trials: luck is priced in
    assert report.deflated.trials == sum(f.trials for f in report.folds)
    # PBO by CSCV over the parameter sets the folds tried, on noise: picking the best is a coin flip or worse
    overfitting = report.overfitting
    assert overfitting is not None and (overfitting.splits, overfitting.combinations) == (8, 70)
    assert 2 <= overfitting.trials <= 50 and overfitting.pbo >= 0.3


def test_too_few_folds_fail_the_minimum(studies: Path) -> None:
    report = walk_forward(cycle_prices(days=1), CycleStrategy(), pair="TEST-USD", timeframe="1m",
                          walk=WalkForwardConfig(folds=2, in_sample_ratio=2.0), method="random", trials=30,
                          storage_dir=studies)
    assert not report.passed
    assert "only 2 fold(s); at least 3 required" in report.reasons


class BreakoutStrategy:
    """Buys a close above the highest of the previous ``lookback`` closes; needs ``lookback`` bars of warm-up."""

    name = "TEST_BREAKOUT"
    space = ParamSpace((Param("lookback", "int", 20, 20, 20),), owner="TEST_BREAKOUT")

    def signals(self, candles: pd.DataFrame, params) -> tuple[pd.Series, pd.Series]:
        close = candles["close"]
        previous_high = close.shift(1).rolling(self.space.validate(params)["lookback"]).max()
        return (close > previous_high).fillna(False), pd.Series(False, index=candles.index)


def test_out_of_sample_trading_starts_flat_with_warm_signals(studies: Path) -> None:
    # 500 bars, 3 folds, ratio 2: out-of-sample windows [200, 300), [300, 400), [400, 500).
    close = 100 - np.arange(500) * 0.001
    close[302:] = 110 + np.arange(198) * 0.01  # a breakout 2 bars into fold 1's window
    report = walk_forward(make_candles(close), BreakoutStrategy(), pair="TEST-USD", timeframe="1m",
                          walk=WalkForwardConfig(folds=3, in_sample_ratio=2.0), method="grid", storage_dir=studies)
    fold = report.folds[1]
    assert (fold.out_of_sample_start, fold.in_sample_start) == (make_candles(close).index[300],
                                                                 make_candles(close).index[100])
    trades = fold.out_of_sample_run.trades
    # A 20-bar look-back computed on the window alone could not fire before its bar 20.
    assert trades["entry_bar"].tolist() == [2]
    assert fold.out_of_sample_run.position.iloc[:2].eq(0).all()  # flat until then
    later = report.folds[2].out_of_sample_run
    # Fold 2 starts flat with fresh cash: it buys on its own first bar (paying the fee) instead of inheriting.
    assert later.trades["entry_bar"].tolist() == [0] and later.trades["entry_fees"].iloc[0] > 0


def test_fold_results_are_reported_as_a_table(studies: Path) -> None:
    report = walk_forward(cycle_prices(days=1), CycleStrategy(), pair="TEST-USD", timeframe="1m",
                          walk=WalkForwardConfig(folds=3, in_sample_ratio=2.0, min_folds=3), method="random",
                          trials=10, storage_dir=studies)
    frame = report.folds_frame()
    assert list(frame["fold"]) == [0, 1, 2]
    assert {"is_sharpe", "oos_sharpe", "degradation", "params", "trials"} <= set(frame.columns)
    expected = 1 - frame["oos_sharpe"] / frame["is_sharpe"]
    positive = frame["is_sharpe"] > 0
    assert np.allclose(frame.loc[positive, "degradation"], expected[positive])
    assert np.isinf(frame.loc[~positive, "degradation"]).all()
