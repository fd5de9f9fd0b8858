"""Bias detection (``tradestream.strategies.bias``): every strategy is free of lookahead and
warm-up bias over a spread of parameters, and the checks do find each kind of bias."""

from __future__ import annotations

import pandas as pd
import pandas_ta as ta
import pytest

from tradestream.params import Param, ParamSpace
from tradestream.strategies import get_strategy, list_strategies, strategy_names
from tradestream.strategies import indicators as registry
from tradestream.strategies.bias import (
    check_candles,
    check_lookahead,
    check_strategy,
    check_warmup,
    parameter_spread,
)
from tradestream.strategies.expressions import CLOSE, Ind, P, crosses_above, crosses_below
from tradestream.strategies.spec import StrategySpec
from tradestream.strategies.synthetic import synthetic_candles

SPREAD = {spec.name: parameter_spread(spec) for spec in list_strategies()}


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    """The synthetic market, long enough for the slowest parameter set's warm-up check."""
    return check_candles(list_strategies(), SPREAD)


@pytest.mark.parametrize("name", strategy_names())
def test_strategy_has_no_lookahead_or_warmup_bias_over_a_spread_of_parameters(name, candles):
    report = check_strategy(name, candles, SPREAD[name])
    assert len(report.results) == 2 * len(SPREAD[name]) == 6
    assert all(r.bars_checked > 0 for r in report.results)
    findings = [str(f) for r in report.results for f in r.findings]
    assert report.passed, findings[:3]


def test_the_parameter_spread_is_the_defaults_and_seeded_feasible_draws():
    spec = get_strategy("TRIPLE_EMA_CROSSOVER")  # short < medium < long: constraints bite
    spread = parameter_spread(spec, draws=5, seed=3)
    assert spread[0] == spec.space.defaults() and len(spread) == 6
    assert all(spec.space.is_feasible(p) for p in spread) and len({tuple(p.items()) for p in spread}) == 6
    assert spread == parameter_spread(spec, draws=5, seed=3)


def _spec(name: str, entry, exit_, *params: Param) -> StrategySpec:
    return StrategySpec(name, "test rule", ParamSpace(tuple(params), owner=name), entry, exit_)


def test_lookahead_check_finds_a_rule_that_reads_the_next_candle():
    period = Param("period", "int", 5, 50, 20)
    sma = Ind("sma", length=P("period"))
    spec = _spec("PEEKS", crosses_above(CLOSE.prev(-1), sma), crosses_below(CLOSE, sma), period)
    frame = synthetic_candles(days=0.5)
    result = check_lookahead(spec, frame, cuts=[100, 200])
    assert not result.passed
    first = result.findings[0]
    # on the cut's last bar the next close does not exist yet: NaN where the full history has a value
    assert (first.kind, first.bar) == ("lookahead", 100)
    assert first.what == "close[-1 bars ago] crosses above sma(length=period)"
    assert "with the history cut at bar 100" in first.detail


@pytest.fixture
def registered():
    """Register test-only indicators for one test, then remove them from the registry."""
    added: list[str] = []

    def add(definition: registry.IndicatorDef) -> None:
        registry.register(definition)
        added.append(definition.name)

    yield add
    for name in added:
        del registry._REGISTRY[name]


def test_warmup_check_finds_a_recursive_indicator_that_declares_no_memory(registered):
    # an EMA that claims to forget its start at once: the live window would start it too late
    registered(registry.IndicatorDef("ema_without_memory", ta.ema, ("close",), lambda k: k["length"] - 1,
                                     int_params=frozenset({"length"})))
    period = Param("period", "int", 5, 50, 30)
    ema = Ind("ema_without_memory", length=P("period"))
    spec = _spec("FORGETFUL", crosses_above(CLOSE, ema), crosses_below(CLOSE, ema), period)
    assert spec.window() == spec.lookback() + 1  # nothing declared beyond the look-back
    frame = synthetic_candles(days=1)
    result = check_warmup(spec, frame, offsets=(1,))
    assert not result.passed
    first = result.findings[0]
    # from bar `window` of the later history on, the seed differs; the very first compared bar already shows it
    assert first.kind == "warmup" and first.bar == spec.window()
    # the same rule on the library's EMA, which declares 50 e-folds of memory, passes
    honest = _spec("HONEST", crosses_above(CLOSE, Ind("ema", length=P("period"))),
                   crosses_below(CLOSE, Ind("ema", length=P("period"))), period)
    assert check_warmup(honest, frame, offsets=(1,)).passed


def test_lookahead_check_finds_pandas_ta_atrts_values_that_need_more_candles_than_declared(registered):
    """What the check found in VOLATILITY_STOP: pandas-ta's atrts returns nothing on a frame shorter
    than length + ma_length bars, but values from bar max(length, ma_length) on a longer one. With
    that shorter look-back declared, a backtest signals on bars a live start could not."""
    registered(registry.IndicatorDef("atrts_short_lookback", ta.atrts, ("high", "low", "close"),
                                     lambda k: max(k["length"], k["ma_length"]),
                                     int_params=frozenset({"length", "ma_length"})))
    stop = Ind("atrts_short_lookback", length=14, ma_length=20, k=3.0)
    floor = Param("floor", "float", 0.0, 1.0, 0.0)
    spec = _spec("SHORT_LOOKBACK", crosses_above(CLOSE, stop) & (CLOSE > P("floor")), crosses_below(CLOSE, stop),
                 floor)
    result = check_lookahead(spec, synthetic_candles(days=0.5))
    assert not result.passed
    # look-back 21 (20 + 1 for the crossing): the first cut, at bar 22, has no stop at bar 21
    assert result.findings[0].bar == 21 and "history cut at bar 22" in result.findings[0].detail
    fixed = Ind("atrts", length=14, ma_length=20, k=3.0)  # the library declares length + ma_length - 1
    spec_fixed = _spec("FIXED", crosses_above(CLOSE, fixed) & (CLOSE > P("floor")), crosses_below(CLOSE, fixed),
                       floor)
    assert spec_fixed.lookback() == 34 and check_lookahead(spec_fixed, synthetic_candles(days=0.5)).passed


def test_a_warmup_check_on_too_few_candles_says_how_many_it_needs():
    spec = get_strategy("VARIABLE_PERIOD_EMA")
    with pytest.raises(ValueError, match=r"too few for a warm-up check .* pass at least \d+"):
        check_warmup(spec, synthetic_candles(days=1))
