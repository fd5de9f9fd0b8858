"""Every strategy trades on the standard synthetic month, with sane, aligned, alternating signals."""

from __future__ import annotations

import numpy as np
import pytest

from tradestream.strategies import evaluate, get_strategy, strategy_names
from tradestream.strategies.positions import BUY, SELL

ALL = strategy_names()


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_buys_and_sells_on_the_synthetic_month(name, month_signals):
    signals = month_signals[name].signals
    assert (signals == BUY).sum() >= 1, f"{name} never buys on the synthetic month"
    assert (signals == SELL).sum() >= 1, f"{name} never sells on the synthetic month"


@pytest.mark.parametrize("name", ALL)
def test_signals_alternate_starting_with_a_buy(name, month_signals):
    trades = month_signals[name].signals.to_numpy()
    trades = trades[trades != 0]
    assert trades[0] == BUY
    assert np.all(trades[::2] == BUY) and np.all(trades[1::2] == SELL), f"{name} emitted two BUYs in a row"


@pytest.mark.parametrize("name", ALL)
def test_entries_and_exits_are_boolean_aligned_and_silent_during_lookback(name, month, month_signals):
    evaluated = month_signals[name]
    lookback = get_strategy(name).lookback()
    for series in (evaluated.entries, evaluated.exits):
        assert series.dtype == bool and series.index.equals(month.index)
        assert not series.iloc[:lookback].any()


def test_evaluate_by_name_equals_the_spec_evaluator_with_custom_parameters(month):
    frame = month.iloc[:3000]
    params = {"fast": 10, "slow": 24, "signal": 7}
    by_name = evaluate("macd_crossover", frame, params)
    by_spec = get_strategy("MACD_CROSSOVER").signals(frame, params)
    assert by_name[0].equals(by_spec[0]) and by_name[1].equals(by_spec[1])
    defaults = get_strategy("MACD_CROSSOVER").signals(frame)
    assert not by_spec[0].equals(defaults[0]), "parameters had no effect"


def test_parameters_change_the_signals_of_a_threshold_rule(month):
    frame = month.iloc[:5000]
    strict = evaluate("SMA_RSI", frame, {"oversold": 15})[0].sum()
    loose = evaluate("SMA_RSI", frame, {"oversold": 30})[0].sum()
    assert strict < loose


def test_evaluation_is_deterministic(month):
    frame = month.iloc[:3000]
    first = evaluate("DOUBLE_TOP_BOTTOM", frame)
    second = evaluate("DOUBLE_TOP_BOTTOM", frame.copy())
    assert first[0].equals(second[0]) and first[1].equals(second[1])
