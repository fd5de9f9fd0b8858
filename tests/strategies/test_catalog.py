"""The catalog: exactly the 60 TradeStream strategies, each fully declared."""

from __future__ import annotations

import numpy as np
import pytest

from tradestream.params import ParamSpace
from tradestream.strategies import UnknownStrategyError, get_strategy, list_strategies, strategy_names
from tradestream.strategies.cache import IndicatorCache
from tradestream.strategies.expressions import EvalContext, Ind, iter_exprs

# The names of the original TradeStream (shared/reference/tradestream-reference.md).
REFERENCE_NAMES = """
ADX_DMI ADX_STOCHASTIC AROON_MFI ATR_CCI ATR_TRAILING_STOP AWESOME_OSCILLATOR BBAND_WILLIAMS_R
CHAIKIN_OSCILLATOR CMF_ZERO_LINE CMO_MFI DEMA_TEMA_CROSSOVER DONCHIAN_BREAKOUT DOUBLE_EMA_CROSSOVER
DOUBLE_TOP_BOTTOM DPO_CROSSOVER ELDER_RAY_MA EMA_MACD FIBONACCI_RETRACEMENTS FRAMA GANN_SWING HEIKEN_ASHI
ICHIMOKU_CLOUD KLINGER_VOLUME KST_OSCILLATOR LINEAR_REGRESSION_CHANNELS MACD_CROSSOVER MASS_INDEX
MOMENTUM_PINBALL MOMENTUM_SMA_CROSSOVER OBV_EMA PARABOLIC_SAR PIVOT PRICE_GAP PRICE_OSCILLATOR_SIGNAL PVT
RAINBOW_OSCILLATOR RANGE_BARS REGRESSION_CHANNEL RENKO_CHART ROC_MA_CROSSOVER RSI_EMA_CROSSOVER RVI SAR_MFI
SMA_EMA_CROSSOVER SMA_RSI STOCHASTIC_EMA STOCHASTIC_RSI TICK_VOLUME_ANALYSIS TRIPLE_EMA_CROSSOVER
TRIX_SIGNAL_LINE VARIABLE_PERIOD_EMA VOLATILITY_STOP VOLUME_BREAKOUT VOLUME_PROFILE VOLUME_PROFILE_DEVIATIONS
VOLUME_SPREAD_ANALYSIS VOLUME_WEIGHTED_MACD VPT VWAP_CROSSOVER VWAP_MEAN_REVERSION
""".split()

ALL = strategy_names()


def test_library_holds_exactly_the_60_reference_strategies():
    assert len(REFERENCE_NAMES) == 60
    assert sorted(ALL) == sorted(REFERENCE_NAMES)


def test_list_strategies_is_sorted_by_name():
    names = [s.name for s in list_strategies()]
    assert names == sorted(names) and len(names) == 60


@pytest.mark.parametrize("spelling", ["macd_crossover", "Macd-Crossover", " MACD_CROSSOVER "])
def test_get_strategy_ignores_case_and_separators(spelling):
    assert get_strategy(spelling).name == "MACD_CROSSOVER"


def test_unknown_strategy_error_names_it_and_suggests_close_matches():
    with pytest.raises(UnknownStrategyError) as info:
        get_strategy("MACD_CROSOVER")
    message = str(info.value)
    assert "MACD_CROSOVER" in message and "did you mean MACD_CROSSOVER" in message


def test_unknown_fragment_suggests_strategies_containing_it():
    with pytest.raises(UnknownStrategyError) as info:
        get_strategy("STOCHASTIC")
    assert "STOCHASTIC_EMA" in info.value.suggestions or "STOCHASTIC_RSI" in info.value.suggestions


@pytest.mark.parametrize("name", ALL)
def test_every_strategy_is_fully_declared(name):
    spec = get_strategy(name)
    assert spec.description and spec.family
    assert isinstance(spec.space, ParamSpace) and spec.space.owner == name
    assert len(spec.space.params) >= 1 and spec.indicators
    for p in spec.space:
        assert p.min <= p.default <= p.max and p.description
    assert spec.space.is_feasible(spec.space.defaults())
    assert spec.entry_rule != spec.exit_rule


def test_reference_parameter_ranges_are_kept():
    macd = {p.name: (p.min, p.max, p.default) for p in get_strategy("MACD_CROSSOVER").space}
    assert macd == {"fast": (8, 16, 12), "slow": (20, 32, 26), "signal": (5, 12, 9)}
    sma_rsi = {p.name: (p.min, p.max) for p in get_strategy("SMA_RSI").space}
    assert sma_rsi == {"ma_period": (10, 50), "rsi_period": (7, 21), "overbought": (70, 85), "oversold": (15, 30)}


def _param_samples(spec, rng) -> list[dict]:
    """Defaults plus a few random feasible parameter sets (including long periods)."""
    samples = [spec.space.defaults()]
    while len(samples) < 3:
        values = {p.name: (int(rng.integers(p.min, p.max + 1)) if p.type == "int"
                           else float(rng.uniform(p.min, p.max))) for p in spec.space}
        if spec.space.is_feasible(values):
            samples.append(values)
    return samples


@pytest.mark.parametrize("name", ALL)
def test_lookback_covers_the_warmup_of_every_series_in_the_rules(name, month):
    """After `lookback` bars every series a rule compares has a value, for several parameter sets.

    If a warm-up formula under-counted, a strategy could "validly" start on NaN input and the
    too-few-candles check would let through frames that cannot produce a signal.
    """
    spec = get_strategy(name)
    frame = month.iloc[:2500]
    for values in _param_samples(spec, np.random.default_rng(sum(map(ord, name)))):
        values = spec.validate_params(values)
        lookback = spec.lookback(values)
        ctx = EvalContext(frame, values, IndicatorCache(frame), name)
        for cond in (spec.entry, spec.exit):
            for expr in iter_exprs(cond):
                series = expr.evaluate(ctx).to_numpy(dtype="float64")
                missing = np.flatnonzero(np.isnan(series[lookback:]))
                assert missing.size == 0, (
                    f"{name} {values}: {expr} is NaN at bar {lookback + missing[0]} (lookback {lookback})")


def test_declared_indicators_are_calls_without_output_suffix():
    spec = get_strategy("MACD_CROSSOVER")
    assert [str(i) for i in spec.indicators] == ["macd(fast, slow, signal)"]
    assert all(isinstance(i, Ind) for s in list_strategies() for i in s.indicators)


def test_a_name_fragment_suggests_every_strategy_containing_it():
    with pytest.raises(UnknownStrategyError) as info:
        get_strategy("macd")
    assert {"MACD_CROSSOVER", "EMA_MACD", "VOLUME_WEIGHTED_MACD"} <= set(info.value.suggestions)
