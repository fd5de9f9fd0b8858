"""Unit tests of the rule language (``expressions.py``): every node on hand-made series.

Each expected value is worked out by hand next to the assertion; none comes from the
node under test. The frames are tiny (a handful of bars) so every bar can be checked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradestream.strategies.cache import IndicatorCache
from tradestream.strategies.expressions import (
    CLOSE,
    HIGH,
    LOW,
    VOLUME,
    BinOp,
    Both,
    Col,
    Compare,
    Const,
    Cross,
    Either,
    EvalContext,
    Held,
    Ind,
    Lit,
    P,
    Present,
    Shift,
    Sqrt,
    StrategyDataError,
    crosses_above,
    crosses_below,
    falling,
    happened_within,
    held_for,
    highest,
    iter_exprs,
    iter_scalars,
    lowest,
    maximum,
    minimum,
    rising,
)
from tradestream.strategies.indicators import convergence_bars, ema_memory, rma_memory

NAN = np.nan


def _frame(close: list[float], **columns: list[float]) -> pd.DataFrame:
    n = len(close)
    data = {"open": close, "high": [c + 1 for c in close], "low": [c - 1 for c in close], "close": close,
            "volume": [10.0] * n}
    data.update(columns)
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in data.items()},
                        index=pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC"))


def _ctx(frame: pd.DataFrame, **params: float) -> EvalContext:
    # an unbound cache: these frames are series to compute on, not candles to validate
    return EvalContext(frame, params, IndicatorCache(), "TEST")


def _series(expr, frame, **params) -> list[float]:
    return expr.evaluate(_ctx(frame, **params)).tolist()


def _cond(cond, frame, **params) -> list[bool]:
    return cond.evaluate(_ctx(frame, **params)).tolist()


def _same(actual: list[float], expected: list[float]) -> bool:
    """Equal bar by bar (NaN where expected NaN), to rounding: a rolling sum may end in ...9996."""
    return np.allclose(np.asarray(actual, float), np.asarray(expected, float), rtol=1e-12, atol=0, equal_nan=True)


# --------------------------------------------------------------------------- scalars

def test_scalars_resolve_parameters_and_arithmetic() -> None:
    level = P("level")
    assert level.resolve({"level": 30.0}) == 30.0
    assert (-level).resolve({"level": 30.0}) == -30.0
    assert (level * 2 + 1).resolve({"level": 3.0}) == 7.0
    assert (1 - level).resolve({"level": 3.0}) == -2.0
    assert (level / 4).resolve({"level": 3.0}) == 0.75
    assert (2 * level).param_names() == {"level"}
    assert (P("a") - P("b")).param_names() == {"a", "b"}
    assert Const(2.5).resolve({}) == 2.5 and Const(2.5).param_names() == set()
    assert str(-P("level")) == "-level" and str(P("a") * 2) == "(a * 2)"


def test_a_scalar_refuses_what_is_not_a_number() -> None:
    with pytest.raises(TypeError, match="expected a number or parameter reference"):
        _ = P("level") + "3"
    with pytest.raises(TypeError):
        _ = P("level") + True  # a bool is not a level


# --------------------------------------------------------------------------- series nodes

def test_literal_broadcasts_its_resolved_value_with_no_warmup() -> None:
    frame = _frame([1.0, 2.0, 3.0])
    assert _series(Lit(P("x") * 2), frame, x=1.5) == [3.0, 3.0, 3.0]
    assert Lit(Const(1.0)).warmup({}) == 0 and Lit(Const(1.0)).memory({}) == 0
    assert Lit(P("x")).key({"x": 2}) == ("lit", 2.0)


def test_column_reads_the_candle_column_and_names_a_missing_one() -> None:
    frame = _frame([1.0, 2.0, 3.0])
    assert _series(CLOSE, frame) == [1.0, 2.0, 3.0]
    assert _series(HIGH, frame) == [2.0, 3.0, 4.0]
    assert CLOSE.warmup({}) == 0 and CLOSE.key({}) == ("col", "close")
    with pytest.raises(StrategyDataError, match="TEST needs candle column 'trade_count'"):
        _series(Col("trade_count"), frame)


def test_arithmetic_is_elementwise_and_division_by_zero_is_no_value() -> None:
    frame = _frame([2.0, 4.0, 0.0])
    assert _series(CLOSE + 1, frame) == [3.0, 5.0, 1.0]
    assert _series(10 - CLOSE, frame) == [8.0, 6.0, 10.0]
    assert _series(CLOSE * CLOSE, frame) == [4.0, 16.0, 0.0]
    assert _series(-CLOSE, frame) == [-2.0, -4.0, -0.0]
    # 8/2, 8/4 and 8/0: the last is "no value" (NaN), like a warm-up bar, not +inf
    assert _same(_series(Lit(Const(8.0)) / CLOSE, frame), [4.0, 2.0, NAN])
    assert _same(_series(CLOSE / CLOSE, frame), [1.0, 1.0, NAN])  # 0/0 too


def test_maximum_and_minimum_keep_a_missing_value_missing() -> None:
    frame = _frame([1.0, 5.0, 3.0])
    shifted = CLOSE.prev()  # NaN, 1, 5
    assert _same(_series(maximum(CLOSE, shifted), frame), [NAN, 5.0, 5.0])
    assert _same(_series(minimum(CLOSE, shifted), frame), [NAN, 1.0, 3.0])
    assert str(maximum(CLOSE, LOW)) == "max(close, low)"


def test_sqrt_of_a_negative_rounding_error_is_no_value_not_an_error() -> None:
    frame = _frame([4.0, -1e-12, 9.0])
    assert _same(_series(Sqrt(CLOSE), frame), [2.0, NAN, 3.0])


def test_shift_moves_values_later_and_adds_its_bars_to_the_warmup() -> None:
    frame = _frame([1.0, 2.0, 3.0, 4.0])
    assert _same(_series(CLOSE.prev(2), frame), [NAN, NAN, 1.0, 2.0])
    assert Shift(CLOSE, 2).warmup({}) == 2
    assert Shift(Ind("sma", length=3), 1).warmup({}) == 3  # sma's 2 bars + 1
    assert str(CLOSE.prev()) == "close[1 bar ago]" and str(CLOSE.prev(3)) == "close[3 bars ago]"


def test_highest_and_lowest_span_the_last_n_bars_including_this_one() -> None:
    frame = _frame([3.0, 1.0, 4.0, 1.0, 5.0])
    assert _same(_series(highest(CLOSE, 3), frame), [NAN, NAN, 4.0, 4.0, 5.0])
    assert _same(_series(lowest(CLOSE, P("n")), frame, n=2), [NAN, 1.0, 1.0, 1.0, 1.0])
    assert highest(CLOSE, 3).warmup({}) == 2
    assert highest(CLOSE.prev(), 3).warmup({}) == 3


# --------------------------------------------------------------------------- indicator calls

def test_an_indicator_call_reads_its_default_columns_or_the_expressions_given() -> None:
    frame = _frame([1.0, 2.0, 3.0, 4.0, 5.0])
    # SMA(3) of close: (1+2+3)/3, (2+3+4)/3, (3+4+5)/3
    assert _same(_series(Ind("sma", length=3), frame), [NAN, NAN, 2.0, 3.0, 4.0])
    # SMA(2) of the high (close + 1) given as the input
    assert _same(_series(Ind("sma", HIGH, length=P("n")), frame, n=2), [NAN, 2.5, 3.5, 4.5, 5.5])
    # an indicator of an indicator: SMA(2) of SMA(2): 1.5, 2.5, ... -> 2, 3, 4
    assert _same(_series(Ind("sma", Ind("sma", length=2), length=2), frame), [NAN, NAN, 2.0, 3.0, 4.0])


def test_an_indicator_output_is_picked_by_name_and_misuse_is_explained() -> None:
    frame = _frame([float(c) for c in range(1, 31)])
    donchian = Ind("donchian", lower_length=3, upper_length=5)
    upper = _series(donchian["DCU"], frame)
    assert upper[4:7] == [6.0, 7.0, 8.0]  # highest high (close + 1) of the last 5 bars
    with pytest.raises(KeyError, match="pick one with"):
        _series(donchian, frame)
    with pytest.raises(KeyError, match="has a single output"):
        _series(Ind("sma", length=3)["SMA"], frame)
    with pytest.raises(KeyError, match="matches"):
        _series(donchian["NOPE"], frame)


def test_an_indicator_call_is_checked_when_declared() -> None:
    with pytest.raises(TypeError, match="takes 1 input series"):
        Ind("sma", CLOSE, HIGH, length=3)
    with pytest.raises(TypeError, match="has no parameter"):
        Ind("sma", period=3)
    with pytest.raises(TypeError, match="needs parameter 'length' given explicitly"):
        Ind("sma")
    with pytest.raises(KeyError, match="is not registered"):
        Ind("no_such_indicator")


def test_indicator_warmup_and_memory_add_up_through_nesting() -> None:
    params = {"n": 10, "m": 4}
    ema = Ind("ema", length=P("n"))
    assert ema.warmup(params) == 9 and ema.memory(params) == ema_memory(10)
    # EMA(4) of EMA(10): the inner warm-up and memory come first, the outer add theirs
    nested = Ind("ema", ema, length=P("m"))
    assert nested.warmup(params) == 9 + 3
    assert nested.memory(params) == ema_memory(10) + ema_memory(4)
    # Wilder's smoothing: alpha = 1/n
    assert Ind("rsi", length=P("n")).memory(params) == rma_memory(10) == convergence_bars(0.1)
    # windowed indicators forget their start at once
    assert Ind("sma", length=P("n")).memory(params) == 0
    # arithmetic and shifts carry their children's memory, not more
    assert (ema - Ind("sma", length=3)).memory(params) == ema_memory(10)
    assert ema.prev(5).memory(params) == ema_memory(10)


def test_convergence_bars_allows_fifty_e_folds_of_the_filters_memory() -> None:
    # (1 - alpha)^bars <= e^-50  <=>  bars >= 50 / -ln(1 - alpha)
    assert convergence_bars(2 / 27) == 650  # EMA 26: 50 / -ln(25/27) = 50 / 0.076961 = 649.68, rounded up
    assert convergence_bars(1.0) == 0
    assert (1 - 2 / 27) ** convergence_bars(2 / 27) <= np.exp(-50) < (1 - 2 / 27) ** (convergence_bars(2 / 27) - 1)


def test_cache_keys_identify_the_call_not_the_output_read() -> None:
    params = {"n": 14}
    adx = Ind("adx", length=P("n"))
    assert adx["DMP"].call_key(params) == adx["DMN"].call_key(params)
    assert adx["DMP"].key(params) != adx["DMN"].key(params)
    # the same call spelled through a parameter or a constant is one cache entry
    assert Ind("ema", length=P("n")).key(params) == Ind("ema", length=14).key({})
    # another period, another input, another call
    assert Ind("ema", length=P("n")).key({"n": 15}) != Ind("ema", length=14).key({})
    assert Ind("ema", HIGH, length=14).key({}) != Ind("ema", length=14).key({})
    # ints are coerced, so 14 and 14.0 give one key
    assert Ind("ema", length=14.0).key({}) == Ind("ema", length=14).key({})


def test_outputs_of_one_call_are_computed_once_per_cache() -> None:
    frame = _frame([float(c) + (c % 3) for c in range(1, 61)])
    ctx = _ctx(frame, n=5)
    adx = Ind("adx", length=P("n"))
    for out in ("ADX", "DMP", "DMN"):
        adx[out].evaluate(ctx)
    assert (ctx.cache.misses, ctx.cache.hits) == (1, 2)
    Ind("adx", length=6)["ADX"].evaluate(ctx)  # another length: a second computation
    assert ctx.cache.misses == 2


# --------------------------------------------------------------------------- conditions

def test_comparisons_are_false_where_either_side_has_no_value() -> None:
    frame = _frame([1.0, 2.0, 3.0, 2.0])
    prev = CLOSE.prev()  # NaN, 1, 2, 3
    assert _cond(CLOSE > prev, frame) == [False, True, True, False]
    assert _cond(CLOSE >= 2, frame) == [False, True, True, True]
    assert _cond(CLOSE < prev, frame) == [False, False, False, True]
    assert _cond(CLOSE <= 2, frame) == [True, True, False, True]
    assert _cond(prev <= CLOSE, frame) == [False, True, True, False]  # NaN <= 1 is False, not True
    assert Compare(CLOSE, ">", Ind("sma", length=3)).warmup({}) == 2


def test_cross_needs_above_now_and_at_or_below_on_the_bar_before() -> None:
    #            bar:  0    1    2    3    4    5    6
    frame = _frame([1.0, 2.0, 3.0, 2.0, 2.0, 3.0, 1.0])
    # against a level of 2: above at bars 2 and 5; bar 1 touches it (at-or-below) so 2 is a cross,
    # bar 4 sits on it so 5 is a cross too
    assert _cond(crosses_above(CLOSE, 2), frame) == [False, False, True, False, False, True, False]
    # below 2 at bar 6 only (3 -> 1); 3 -> 2 at bar 3 is a touch, not under
    assert _cond(crosses_below(CLOSE, 2), frame) == [False, False, False, False, False, False, True]
    # a level given by a parameter, and the first bar never crosses (no bar before it)
    assert _cond(crosses_above(CLOSE, P("lvl")), frame, lvl=0.5) == [False] * 7
    assert Cross(Ind("sma", length=3), Lit(Const(0.0)), True).warmup({}) == 3


def test_cross_from_no_value_is_no_cross() -> None:
    frame = _frame([5.0, 1.0, 3.0, 4.0])
    line = Ind("sma", length=2)  # NaN, 3, 2, 3.5
    # close vs SMA2: bar 1: 1 < 3; bar 2: 3 > 2 (from 1 <= 3): cross; bar 3: 4 > 3.5, already above
    assert _cond(crosses_above(CLOSE, line), frame) == [False, False, True, False]
    # bar 1 is above nothing on bar 0 (NaN): no cross, although 1 < 3 "now"
    assert _cond(crosses_below(CLOSE, line), frame) == [False, False, False, False]


def test_present_is_true_where_a_value_exists() -> None:
    frame = _frame([1.0, 2.0, 3.0])
    assert _cond(Present(CLOSE.prev()), frame) == [False, True, True]


def test_and_or_combine_bar_by_bar_and_take_the_longer_warmup() -> None:
    frame = _frame([1.0, 3.0, 2.0, 4.0])
    up = rising(CLOSE)  # F T F T
    big = CLOSE > 2.5  # F T F T -> use >= 2 instead for a different pattern
    mid = CLOSE >= 2  # F T T T
    assert _cond(up & mid, frame) == [False, True, False, True]
    assert _cond(up | mid, frame) == [False, True, True, True]
    assert isinstance(up & big, Both) and isinstance(up | big, Either)
    both = Both(Compare(Ind("sma", length=3), ">", CLOSE), up)
    assert both.warmup({}) == 2 and Either(up, both).warmup({}) == 2
    assert str(Either(up, Both(up, mid))) == "close > close[1 bar ago] or (close > close[1 bar ago] and close >= 2)"


def test_rising_and_falling_compare_with_n_bars_ago() -> None:
    frame = _frame([1.0, 2.0, 2.0, 1.0, 3.0])
    assert _cond(rising(CLOSE), frame) == [False, True, False, False, True]
    assert _cond(falling(CLOSE), frame) == [False, False, False, True, False]
    assert _cond(rising(CLOSE, 2), frame) == [False, False, True, False, True]
    assert rising(CLOSE, 2).warmup({}) == 2


def test_held_for_needs_every_one_of_the_last_n_bars() -> None:
    frame = _frame([1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0, 6.0])
    up = rising(CLOSE)  # F T T T F T T T
    assert _cond(held_for(up, 3), frame) == [False, False, False, True, False, False, False, True]
    assert _cond(held_for(up, P("n")), frame, n=1) == _cond(up, frame)
    assert held_for(up, 3).warmup({}) == 1 + 2


def test_happened_within_needs_any_of_the_last_n_bars() -> None:
    frame = _frame([1.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    up = rising(CLOSE)  # F T F F F F
    assert _cond(happened_within(up, 3), frame) == [False, True, True, True, False, False]
    assert happened_within(up, 3).warmup({}) == 3
    assert isinstance(happened_within(up, 3), Held)


def test_held_passes_on_its_conditions_memory() -> None:
    ema = Ind("ema", length=P("n"))
    assert held_for(ema > CLOSE, 5).memory({"n": 10}) == ema_memory(10)
    assert Both(ema > CLOSE, CLOSE > Ind("rsi", length=P("n"))).memory({"n": 10}) == max(ema_memory(10),
                                                                                       rma_memory(10))


def test_there_is_no_negation_so_no_value_never_becomes_true() -> None:
    # the language deliberately has no "not": ~cond would turn a warm-up bar into True
    with pytest.raises(TypeError):
        _ = ~(CLOSE > 1)


def test_walking_a_rule_finds_every_expression_and_every_parameter() -> None:
    sma = Ind("sma", VOLUME, length=P("n"))
    rule = happened_within(crosses_above(CLOSE, sma * P("k")), P("w")) & (CLOSE > -P("lvl"))
    exprs = list(iter_exprs(rule))
    assert sma in exprs and CLOSE in exprs and VOLUME in exprs
    assert any(isinstance(e, BinOp) for e in exprs)
    names = set().union(*(s.param_names() for s in iter_scalars(rule)))
    assert names == {"n", "k", "w", "lvl"}
