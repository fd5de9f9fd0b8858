"""The shared long-only semantics: BUY when flat & entry, SELL when long & exit, never two BUYs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradestream.strategies.positions import positions_after, step, trade_signals


def _series(values: list[bool]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), freq="1min", tz="UTC"))


def _run(entries: list[int], exits: list[int]) -> list[int]:
    return trade_signals(_series([bool(v) for v in entries]), _series([bool(v) for v in exits])).tolist()


def test_buy_when_flat_and_entry_then_sell_when_long_and_exit():
    assert _run([0, 1, 0, 0, 0], [0, 0, 0, 1, 0]) == [0, 1, 0, -1, 0]


def test_entry_while_long_and_exit_while_flat_do_nothing():
    assert _run([1, 1, 0, 0], [0, 0, 1, 1]) == [1, 0, -1, 0]
    assert _run([0, 0], [1, 1]) == [0, 0]


def test_bar_where_both_hold_buys_when_flat_and_sells_when_long():
    assert _run([1], [1]) == [1]
    assert _run([1, 1], [0, 1]) == [1, -1]
    assert _run([1, 1, 1], [1, 1, 1]) == [1, -1, 1]


def test_random_conditions_alternate_and_match_the_rule_stated_plainly():
    rng = np.random.default_rng(3)
    entries, exits = rng.random(5000) < 0.2, rng.random(5000) < 0.2
    got = trade_signals(_series(list(entries)), _series(list(exits))).to_numpy()
    position, expected = 0, []
    for e, x in zip(entries, exits, strict=True):
        if position == 0 and e:
            position, action = 1, 1
        elif position == 1 and x:
            position, action = 0, -1
        else:
            action = 0
        expected.append(action)
    assert got.tolist() == expected
    trades = got[got != 0]
    assert (trades[::2] == 1).all() and (trades[1::2] == -1).all()


def test_positions_after_tracks_the_held_position_and_initial_long_sells_first():
    e, x = _series([False, True, False]), _series([True, False, True])
    assert positions_after(e, x).tolist() == [0, 1, 0]
    assert trade_signals(e, x, initial_position=1).tolist() == [-1, 1, -1]


def test_step_is_the_single_transition_used_bar_by_bar():
    assert step(0, True, True) == (1, 1)
    assert step(1, True, True) == (0, -1)
    assert step(1, True, False) == (1, 0)
    assert step(0, False, True) == (0, 0)


def test_misaligned_or_non_boolean_inputs_are_refused():
    with pytest.raises(ValueError, match="share one index"):
        trade_signals(_series([True, False]), _series([True, False, True]))
    with pytest.raises(ValueError, match="entries must be a boolean series, got dtype float64"):
        trade_signals(_series([True, False]).astype(float), _series([True, False]))
    with pytest.raises(ValueError, match="initial_position=2"):
        trade_signals(_series([True]), _series([False]), initial_position=2)
