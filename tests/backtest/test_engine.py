"""The simulation: shared long-only semantics, fills, sizing, stops, grids; and bad signals refused."""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest

from tests.backtest.builders import bars, make_candles, random_walk
from tradestream.backtest import BacktestConfig, BacktestInputError, run_backtest, run_grid, run_strategy_grid
from tradestream.backtest._kernels import long_only_actions
from tradestream.strategies.positions import trade_signals


def _random_signals(n: int, seed: int, p: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random(n) < p, rng.random(n) < p  # overlapping on purpose: conflicts included


@pytest.mark.parametrize("seed", range(5))
def test_trades_happen_exactly_on_the_strategy_librarys_buy_and_sell_bars(seed: int) -> None:
    candles = random_walk(500, seed)
    entries, exits = _random_signals(500, seed)
    assert (entries & exits).any()
    expected = trade_signals(pd.Series(entries, index=candles.index), pd.Series(exits, index=candles.index))
    run = run_backtest(candles, entries, exits, BacktestConfig(fees=0.001), timeframe="1m")
    actions = np.zeros(500, dtype=np.int8)
    actions[run.trades["entry_bar"].to_numpy()] = 1
    closed = run.trades["exit_bar"].to_numpy()
    actions[closed[closed >= 0]] = -1
    assert actions.tolist() == expected.tolist()
    assert long_only_actions(entries, exits).tolist() == expected.tolist()


def test_a_bar_with_entry_and_exit_buys_when_flat_and_sells_when_long() -> None:
    candles = make_candles([10, 11, 12, 13, 14])
    run = run_backtest(candles, bars(5, 1, 3), bars(5, 1, 3), BacktestConfig(fees=0.0), timeframe="1m")
    # bar 1: flat, both -> BUY only; bar 3: long, both -> SELL only.
    assert run.trades[["entry_bar", "exit_bar"]].values.tolist() == [[1, 3]]


def test_next_open_fills_at_the_following_bars_open_and_drops_a_last_bar_signal() -> None:
    close = [10, 11, 12, 13, 14, 15]
    opens = [10, 10.5, 11.5, 12.5, 13.5, 14.5]
    candles = make_candles(close, open_=opens)
    run = run_backtest(candles, bars(6, 1), bars(6, 3, 5), BacktestConfig(fees=0.0, fill="next_open"),
                       timeframe="1m")
    trade = run.trades.iloc[0]
    assert (trade["entry_bar"], trade["exit_bar"]) == (2, 4)
    assert (trade["entry_price"], trade["exit_price"]) == (11.5, 13.5)
    late = run_backtest(candles, bars(6, 5), bars(6), BacktestConfig(fill="next_open"), timeframe="1m")
    assert late.trades.empty and late.metrics.total_return == 0.0


def test_fractional_sizing_keeps_the_rest_in_cash() -> None:
    candles = make_candles([100, 100, 200, 200], timeframe="1d")
    run = run_backtest(candles, bars(4, 1), bars(4, 3), BacktestConfig(cash=1000, fees=0.0, size=0.25),
                       timeframe="1d")
    assert run.equity.tolist() == pytest.approx([1000, 1000, 1250, 1250])
    assert run.trades["size"].iloc[0] == pytest.approx(2.5)


def test_stop_loss_exits_at_its_level_or_at_a_gap_open() -> None:
    # Entry at close 100; next bar trades down to 94: a 5 % stop fills at 95.
    candles = make_candles([100, 100, 97, 98], open_=[100, 100, 99, 97], low=[100, 100, 94, 97],
                           high=[100, 100, 99, 98])
    run = run_backtest(candles, bars(4, 1), bars(4), BacktestConfig(fees=0.0, stop_loss=0.05), timeframe="1m")
    trade = run.trades.iloc[0]
    assert (trade["exit_bar"], trade["exit_price"], trade["exit_reason"]) == (2, 95.0, "stop_loss")
    # The next bar opens at 90, under the stop: the fill is the open, not the stop level.
    gap = make_candles([100, 100, 91], open_=[100, 100, 90], low=[100, 100, 89], high=[100, 100, 92])
    run = run_backtest(gap, bars(3, 1), bars(3), BacktestConfig(fees=0.0, stop_loss=0.05), timeframe="1m")
    assert run.trades.iloc[0]["exit_price"] == 90.0


def test_take_profit_exits_at_its_level_and_a_bar_hitting_both_assumes_the_stop() -> None:
    candles = make_candles([100, 100, 108], open_=[100, 100, 101], high=[100, 100, 111], low=[100, 100, 100])
    run = run_backtest(candles, bars(3, 1), bars(3), BacktestConfig(fees=0.0, take_profit=0.10), timeframe="1m")
    assert run.trades.iloc[0]["exit_reason"] == "take_profit"
    assert run.trades.iloc[0]["exit_price"] == pytest.approx(110.0)
    both = make_candles([100, 100, 100], open_=[100, 100, 100], high=[100, 100, 112], low=[100, 100, 94])
    run = run_backtest(both, bars(3, 1), bars(3), BacktestConfig(fees=0.0, stop_loss=0.05, take_profit=0.10),
                       timeframe="1m")
    assert tuple(run.trades.iloc[0][["exit_price", "exit_reason"]]) == (95.0, "stop_loss")


def test_trailing_stop_follows_the_highest_price_since_entry() -> None:
    # Entry 100; highs 110 then 120; the bar after 120 dips to 113: a 5 % trail from 120 fills at 114.
    candles = make_candles([100, 100, 109, 119, 115], open_=[100, 100, 101, 109, 119],
                           high=[100, 100, 110, 120, 119], low=[100, 100, 100, 108, 113])
    run = run_backtest(candles, bars(5, 1), bars(5), BacktestConfig(fees=0.0, trailing_stop=0.05), timeframe="1m")
    trade = run.trades.iloc[0]
    assert (trade["exit_bar"], trade["exit_reason"]) == (4, "trailing_stop")
    assert trade["exit_price"] == pytest.approx(114.0)


def test_a_position_still_open_at_the_end_is_marked_to_the_last_close() -> None:
    candles = make_candles([100, 100, 120])
    run = run_backtest(candles, bars(3, 1), bars(3), BacktestConfig(cash=1000, fees=0.0), timeframe="1m")
    trade = run.trades.iloc[0]
    assert trade["exit_bar"] == -1 and pd.isna(trade["exit_time"]) and trade["exit_reason"] == "open"
    assert trade["pnl"] == pytest.approx(200.0)
    assert run.metrics.number_of_trades == 0  # trade statistics count closed trades
    assert run.metrics.total_return == pytest.approx(0.2)  # the equity curve counts the open position


def test_grid_rows_equal_single_runs_bit_for_bit() -> None:
    candles = random_walk(3000, seed=9)
    rng = np.random.default_rng(3)
    entries = pd.DataFrame(rng.random((3000, 6)) < 0.03, index=candles.index,
                           columns=[f"combo{i}" for i in range(6)])
    exits = pd.DataFrame(rng.random((3000, 6)) < 0.03, index=candles.index, columns=entries.columns)
    config = BacktestConfig(fees=0.001, slippage_bps=3, stop_loss=0.02, trailing_stop=0.03)
    grid = run_grid(candles, entries, exits, config, timeframe="1m")
    assert list(grid.index) == list(entries.columns)
    for column in entries.columns:
        single = run_backtest(candles, entries[column], exits[column], config, timeframe="1m").metrics.as_dict()
        assert grid.loc[column].to_dict() == single  # exact equality, not approximate


def test_grid_results_do_not_depend_on_the_thread_count() -> None:
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS  # the grid gets every core by default
    candles = random_walk(1000, seed=1)
    entries = np.random.default_rng(0).random((1000, 5)) < 0.05
    results = {}
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            results[threads] = run_grid(candles, entries, entries[:, ::-1].copy(), timeframe="1m")
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    first, last = results.values()
    pd.testing.assert_frame_equal(first, last)


def test_strategy_grid_validates_every_parameter_set(window_strategy) -> None:
    candles = random_walk(120, seed=4)
    frame = run_strategy_grid(candles, window_strategy, [{"entry_bar": 5, "exit_bar": 50},
                                                          {"entry_bar": 20}], timeframe="1m")
    assert frame[["entry_bar", "exit_bar", "number_of_trades"]].values.tolist() == [[5, 50, 1], [20, 50, 1]]
    with pytest.raises(Exception, match=r"exit_bar=500 is outside its range \[1, 119\]"):
        run_strategy_grid(candles, window_strategy, [{"exit_bar": 500}], timeframe="1m")


@pytest.mark.parametrize("strategy", ["MACD_CROSSOVER", "RSI_EMA_CROSSOVER", "DONCHIAN_BREAKOUT", "BBAND_WILLIAMS_R"])
def test_a_grid_on_the_kernels_equals_the_grid_through_pandas_ta(strategy) -> None:
    """The default signal path (all sets in one run of the incremental kernels) gives the metrics
    of pandas-ta's set-by-set evaluation, bit for bit, and the same refusal for a set whose
    look-back exceeds the candles."""
    from tradestream.strategies import get_strategy

    candles = random_walk(4000, seed=12)
    sets = get_strategy(strategy).space.grid(points=3)[:12]
    kernels = run_strategy_grid(candles, strategy, sets, timeframe="1m", signals="kernels")
    pandas_ta = run_strategy_grid(candles, strategy, sets, timeframe="1m", signals="pandas-ta")
    pd.testing.assert_frame_equal(kernels, pandas_ta)
    assert kernels["number_of_trades"].sum() > 0
    refusals = []
    for path in ("kernels", "pandas-ta"):
        with pytest.raises(BacktestInputError, match="look-back") as refused:
            run_strategy_grid(candles.iloc[:8], strategy, sets[-1:], timeframe="1m", signals=path)
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1]
    with pytest.raises(BacktestInputError, match="signal engine 'fast' is not one of"):
        run_strategy_grid(candles, strategy, sets[:1], timeframe="1m", signals="fast")


@pytest.mark.parametrize(("entries", "message"), [
    (np.array([True, np.nan, False, False]), r"entries has 1 NaN value\(s\), first at position 1"),
    (np.array([True, None, False, False], dtype=object), r"entries has 1 missing value\(s\)"),
    (np.array([0, 2, 0, 1]), "entries must hold booleans or 0/1, got the value 2"),
    (np.array([True, False]), r"entries has shape \(2,\); expected \(4,\)"),
    (pd.Series([True, False, False, False], index=pd.date_range("2020-01-01", periods=4, freq="1min", tz="UTC")),
     "entries is not aligned with the candles"),
])
def test_broken_signals_are_refused_with_the_bad_value(entries, message: str) -> None:
    candles = make_candles([1, 2, 3, 4])
    with pytest.raises(BacktestInputError, match=message):
        run_backtest(candles, entries, np.zeros(4, bool), timeframe="1m")


def test_grid_signals_need_one_column_per_combination() -> None:
    candles = make_candles([1, 2, 3, 4])
    with pytest.raises(BacktestInputError, match=r"entries has shape \(4,\); expected \(4, combos\)"):
        run_grid(candles, np.zeros(4, bool), np.zeros(4, bool), timeframe="1m")
    with pytest.raises(BacktestInputError, match="entries have 2 combinations but exits have 3"):
        run_grid(candles, np.zeros((4, 2), bool), np.zeros((4, 3), bool), timeframe="1m")
