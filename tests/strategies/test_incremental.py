"""The incremental kernels equal pandas-ta bit for bit, indicator by indicator and rule by rule.

The reference is the registered indicator itself (pandas-ta, or the hand-written ones in
``custom.py``) computed over the whole frame; the incremental side advances one bar at a
time through ``kernels.run``. They share no arithmetic code: the kernels replay pandas'
and pandas-ta's steps from their sources. Every bar is compared, NaN where NaN.

Two markets: the synthetic month, and a "flat" one (the month's first 6,000 bars with runs
of filled candles, open = high = low = close and volume 0, as the candle job emits for
quiet minutes, the first at bar 0): ties, zero ranges and constant windows take other paths
through pandas (its run-length of equal values in rolling sums, non_zero_range's epsilon).

One documented difference: pandas-ta's ``non_zero_range(x, y)`` adds epsilon to *every*
difference of a frame in which any difference is zero, including the bars before that
zero (a rule that reads the future). The kernels add it from the first zero on. Where a
zero first appears inside the frame the bars before it may differ by that epsilon; the
outputs where the flat market shows it (not read by any strategy) are compared to 1e-12.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from tradestream.strategies import IndicatorCache, get_strategy, list_strategies
from tradestream.strategies.bias import comparisons, parameter_spread
from tradestream.strategies.config import ActiveEntry, ActiveStrategySet
from tradestream.strategies.expressions import EvalContext, Ind
from tradestream.strategies.incremental import kernels as K
from tradestream.strategies.incremental.batch import candle_values, rule_signals, run_program, series
from tradestream.strategies.incremental.builders import builder_for, incremental_indicators
from tradestream.strategies.incremental.evaluator import IncrementalEvaluator
from tradestream.strategies.incremental.program import NotIncremental, ProgramBuilder, compile_rules
from tradestream.strategies.indicators import registered_indicators
from tradestream.strategies.live import LiveEvaluator

# Two parameter sets per indicator: the library's defaults and a second, different one.
CASES: dict[str, list[dict[str, object]]] = {
    "sma": [{"length": 20}, {"length": 3}],
    "ema": [{"length": 26}, {"length": 200}],
    "dema": [{"length": 20}, {"length": 7}],
    "tema": [{"length": 10}, {"length": 33}],
    "vwma": [{"length": 60}, {"length": 11}],
    "kama": [{"length": 10, "fast": 2, "slow": 20}, {"length": 25, "fast": 4, "slow": 30}],
    "linreg": [{"length": 50}, {"length": 200}],
    "hlc3": [{}],
    "frama": [{"length": 16, "slow": 50}, {"length": 9, "slow": 200}],
    "macd": [{"fast": 12, "slow": 26, "signal": 9}, {"fast": 8, "slow": 31, "signal": 5}],
    "ppo": [{"fast": 12, "slow": 26, "signal": 9}, {"fast": 5, "slow": 50, "signal": 15}],
    "rsi": [{"length": 14}, {"length": 3}],
    "stoch": [{"k": 14, "d": 3, "smooth_k": 3}, {"k": 5, "d": 3, "smooth_k": 3}],
    "stochrsi": [{"length": 14, "rsi_length": 14, "k": 3, "d": 3}, {"length": 7, "rsi_length": 21, "k": 3, "d": 3}],
    "cmo": [{"length": 14}, {"length": 30}],
    "willr": [{"length": 14}, {"length": 28}],
    "ao": [{"fast": 5, "slow": 34}, {"fast": 10, "slow": 60}],
    "mom": [{"length": 10}, {"length": 30}],
    "roc": [{"length": 12}, {"length": 1}],
    "kst": [{"roc1": 10, "roc2": 15, "roc3": 20, "roc4": 30, "sma1": 10, "sma2": 10, "sma3": 10, "sma4": 15,
             "signal": 9},
            {"roc1": 5, "roc2": 12, "roc3": 17, "roc4": 40, "sma1": 10, "sma2": 10, "sma3": 10, "sma4": 15,
             "signal": 5}],
    "trix": [{"length": 18, "signal": 9}, {"length": 40, "signal": 15}],
    "rvgi": [{"length": 10, "swma_length": 4}, {"length": 30, "swma_length": 4}],
    "eri": [{"length": 13}, {"length": 50}],
    "cci": [{"length": 20}, {"length": 40}],
    "adx": [{"length": 14}, {"length": 30}],
    "aroon": [{"length": 25}, {"length": 10}],
    "psar": [{"af0": 0.02, "af": 0.02, "max_af": 0.2}, {"af0": 0.05, "af": 0.05, "max_af": 0.1}],
    "ichimoku": [{"tenkan": 9, "kijun": 26, "senkou": 52}, {"tenkan": 20, "kijun": 60, "senkou": 120}],
    "dpo": [{"length": 20}, {"length": 11}],
    "increasing": [{"length": 3}, {"length": 6}],
    "decreasing": [{"length": 3}, {"length": 2}],
    "atr": [{"length": 14}, {"length": 7}],
    "bbands": [{"length": 20, "lower_std": 2.0, "upper_std": 2.0}, {"length": 50, "lower_std": 1.3, "upper_std": 2.7}],
    "donchian": [{"lower_length": 10, "upper_length": 20}, {"lower_length": 61, "upper_length": 61}],
    "massi": [{"fast": 9, "slow": 25}, {"fast": 15, "slow": 40}],
    "chandelier_exit": [{"high_length": 22, "low_length": 22, "atr_length": 14, "multiplier": 3.0},
                        {"high_length": 60, "low_length": 60, "atr_length": 7, "multiplier": 1.5}],
    "atrts": [{"length": 14, "ma_length": 20, "k": 3.0}, {"length": 30, "ma_length": 10, "k": 1.25}],
    "stdev": [{"length": 50}, {"length": 20}],
    "ha": [{}],
    "obv": [{}],
    "pvt": [{}],
    "mfi": [{"length": 14}, {"length": 28}],
    "adosc": [{"fast": 3, "slow": 10}, {"fast": 6, "slow": 20}],
    "cmf": [{"length": 20}, {"length": 50}],
    "kvo": [{"fast": 34, "slow": 55, "signal": 13}, {"fast": 20, "slow": 80, "signal": 5}],
    "renko": [{"brick_pct": 0.25, "window": 240}, {"brick_pct": 0.05, "window": 60}],
    "range_bars": [{"range_pct": 0.3, "window": 240}, {"range_pct": 0.1, "window": 60}],
    "double_top_bottom": [{"window": 120, "pivot": 3, "tolerance_pct": 0.15},
                          {"window": 40, "pivot": 2, "tolerance_pct": 1.0}],
    "volume_profile": [{"window": 240, "bins": 24, "value_area": 0.7}, {"window": 60, "bins": 10, "value_area": 0.5}],
}


# (indicator, output): non_zero_range of a difference that first reaches zero inside the flat market
FRAME_WIDE_EPSILON = {("bbands", "BBP")}


def _flat_market(month: pd.DataFrame) -> pd.DataFrame:
    frame = month.iloc[:6000].copy()
    flat_runs = [0, 1, 2, 700, 701, 1500, 1501, 1502, 1503, 1504, 1505, 1506, 1507, 1508, 1509, 1510, 1511, 1512,
                 1513, 1514, 1515, 1516, 1517, 1518, 1519, 1520, 1521, 1522, 3000]
    prices = frame[["open", "high", "low", "close", "vwap"]].to_numpy(copy=True)
    volume = frame["volume"].to_numpy(copy=True)
    trades = frame["trade_count"].to_numpy(copy=True)
    for i in flat_runs:
        price = prices[i - 1, 3] if i else prices[0, 0]
        prices[i] = price
        volume[i] = 0.0
        trades[i] = 0.0
    frame[["open", "high", "low", "close", "vwap"]] = prices
    frame["volume"], frame["trade_count"] = volume, trades
    return frame


@pytest.fixture(scope="module", params=["month", "flat"])
def market(request, month) -> pd.DataFrame:
    return month if request.param == "month" else _flat_market(month)


def _cases() -> list[tuple[str, dict[str, object]]]:
    return [(name, kw) for name in sorted(CASES) for kw in CASES[name]]


def test_every_registered_indicator_has_an_incremental_builder_and_test_cases():
    assert incremental_indicators() == set(registered_indicators())
    assert set(CASES) == set(registered_indicators())


@pytest.mark.parametrize(("name", "kwargs"), _cases(), ids=lambda v: v if isinstance(v, str) else "-")
def test_indicator_equals_pandas_ta_on_every_bar(market, name, kwargs):
    ind = Ind(name, **kwargs)
    definition = ind.definition
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = definition.compute([market[c.name] for c in ind.inputs], ind.resolved({}))
    builder = ProgramBuilder()
    outputs = builder_for(name)(builder, [builder.expr(e, {}) for e in ind.inputs],
                                {**ind.resolved({}), **definition.fixed})
    got = run_program(builder.build(), candle_values(market), list(outputs.values()))
    for j, out in enumerate(outputs):
        expected = definition.select(reference, out, market.index).to_numpy(dtype="float64", na_value=np.nan)
        same = (got[:, j] == expected) | (np.isnan(got[:, j]) & np.isnan(expected))
        if (name, out) in FRAME_WIDE_EPSILON and len(market) < 43_200:
            with np.errstate(invalid="ignore"):
                same |= np.abs(got[:, j] - expected) <= 1e-12 * np.abs(expected)
        differs = np.flatnonzero(~same)
        assert differs.size == 0, (
            f"{name}{kwargs} {out}: {differs.size} bars differ, first {differs[:3]}: "
            f"incremental {got[differs[:3], j]}, pandas-ta {expected[differs[:3]]}")


def _entries(spread_seed: int) -> list[tuple[str, object, dict]]:
    out = []
    for spec in list_strategies():
        for i, params in enumerate(parameter_spread(spec, draws=2, seed=spread_seed)):
            out.append((f"{spec.name}#{i}", spec, spec.validate_params(params)))
    return out


@pytest.mark.parametrize(("market_name", "spread_seed"), [("month", 0), ("month", 1), ("flat", 0)])
def test_every_strategy_signals_on_every_bar_as_the_vectorized_evaluation(month, market_name, spread_seed):
    """All 60 strategies, defaults and two seeded random parameter sets each, in one program
    (shared indicators), over every bar of the synthetic month (and of the flat market)."""
    frame = month if market_name == "month" else _flat_market(month)
    entries = _entries(spread_seed)
    keys, got_entries, got_exits = rule_signals(frame, entries, threads=2)
    assert keys == [k for k, _, _ in entries]
    cache = IndicatorCache(frame)
    differ = []
    for j, (key, spec, params) in enumerate(entries):
        expected_entries, expected_exits = spec.signals(frame, params, cache)
        bad = np.flatnonzero((got_entries[j] != expected_entries.to_numpy())
                             | (got_exits[j] != expected_exits.to_numpy()))
        if bad.size:
            differ.append(f"{key} {params}: {bad.size} bars, first {bad[:3]}")
    assert not differ, "\n".join(differ)


@pytest.mark.parametrize("name", [s.name for s in list_strategies()])
def test_every_series_a_rule_compares_is_bit_identical(month, name):
    """What each comparison of the rule reads, left and right, at defaults and a random set."""
    spec = get_strategy(name)
    checked = 0
    for params in parameter_spread(spec, draws=1, seed=3):
        values = spec.validate_params(params)
        pairs = comparisons(spec.entry) + comparisons(spec.exit)
        exprs = [e for c in pairs for e in (c.left, c.right)]
        got = series(month, values, exprs)
        ctx = EvalContext(month, values, IndicatorCache(month), name)
        for j, expr in enumerate(exprs):
            expected = expr.evaluate(ctx).to_numpy(dtype="float64", na_value=np.nan)
            bad = np.flatnonzero(~((got[:, j] == expected) | (np.isnan(got[:, j]) & np.isnan(expected))))
            assert bad.size == 0, f"{name} {values}: {expr} differs on {bad.size} bars, first {bad[:3]}"
            checked += 1
    assert checked >= 2


def test_indicators_shared_by_strategies_are_computed_once():
    macd = get_strategy("MACD_CROSSOVER")
    ema_macd = get_strategy("EMA_MACD")
    alone = compile_rules([("a", macd, macd.space.defaults())])
    both = compile_rules([("a", macd, macd.space.defaults()), ("b", ema_macd, ema_macd.space.defaults())])
    # EMA_MACD adds its trend EMA(50), the rule comparisons and nothing of MACD(12, 26, 9)
    assert len(both.code) - len(alone.code) <= 8
    grid = [(f"g{s}", macd, macd.validate_params({"fast": 12, "slow": 26, "signal": s})) for s in range(5, 13)]
    shared = compile_rules(grid)
    emas = sum(1 for op in shared.code[:, K.OP] if op == K.EWM)
    assert emas == 2 + 8  # EMA 12 and EMA 26 once, one signal EMA per parameter set


def test_a_shift_into_the_future_has_no_incremental_form():
    builder = ProgramBuilder()
    with pytest.raises(NotIncremental, match="only past bars"):
        builder.shift(0, -1)


def test_a_state_migrates_by_operation_identity(month):
    macd, sar = get_strategy("MACD_CROSSOVER"), get_strategy("PARABOLIC_SAR")
    one = compile_rules([("m", macd, macd.space.defaults())])
    two = compile_rules([("s", sar, sar.space.defaults()), ("m", macd, macd.space.defaults())])
    values = candle_values(month.iloc[:3000])
    state = one.template.copy()
    K.run(one.code, one.fconst, one.weights, state, values, np.zeros(0, dtype=np.int64), np.zeros(one.n_slots))
    moved, complete = two.migrate(one, state)
    assert not complete  # SAR's operations are new
    back, complete_back = one.migrate(two, moved)
    assert complete_back and np.array_equal(back, state, equal_nan=True)


# --------------------------------------------------------------------------- the evaluator


def _row(frame: pd.DataFrame, i: int, pair: str) -> dict[str, object]:
    return {"pair": pair, "timeframe": "1m", "window_start": frame.index[i], **frame.iloc[i].to_dict()}


def test_a_batch_of_pairs_in_one_call_equals_pair_by_pair(month):
    active = ActiveStrategySet.of(ActiveEntry(n, get_strategy(n).space.defaults(), None, ("1m",))
                                  for n in ("MACD_CROSSOVER", "RSI_EMA_CROSSOVER", "RENKO_CHART"))
    pairs = [f"P{i}-USD" for i in range(12)]
    shifted = {p: month.iloc[i * 500: i * 500 + 3000] for i, p in enumerate(pairs)}  # each pair its own market
    together, alone = IncrementalEvaluator(active), IncrementalEvaluator(active)
    got_together, got_alone = [], []
    for i in range(3000):
        candles = [_row(shifted[p], i, p) for p in pairs]
        got_together += [(s.pair, s.strategy, i, s.type) for s in together.on_candles(candles)]
        for candle in candles:
            got_alone += [(s.pair, s.strategy, i, s.type) for s in alone.on_candle(candle)]
    assert sorted(got_together) == sorted(got_alone) and len(got_alone) > 100


def test_a_revision_after_a_restore_rolls_back_to_the_state_before_the_last_bar(month):
    active = ActiveStrategySet.of([ActiveEntry("MACD_CROSSOVER", get_strategy("MACD_CROSSOVER").space.defaults(),
                                               None, ("1m",))])
    straight = IncrementalEvaluator(active)
    for i in range(2000):
        straight.on_candle(_row(month, i, "BTC-USD"))
    restored = IncrementalEvaluator(active)
    restored.import_state(json.loads(json.dumps(straight.export_state())))
    moved = _row(month, 2000, "BTC-USD")
    other = IncrementalEvaluator(active)
    other.import_state(straight.export_state())
    # both see bar 2000 in a wrong version first, then revised: the restored copy must continue like the straight one
    wrong = {**moved, "close": moved["close"] * 1.01, "high": max(moved["high"], moved["close"] * 1.01)}
    straight.on_candle(wrong)
    restored.on_candle(wrong)
    restored.import_state(json.loads(json.dumps(straight.export_state())))
    a = [(s.type, i) for i in range(2000, 2600) for s in straight.on_candle(_row(month, i, "BTC-USD"))]
    b = [(s.type, i) for i in range(2000, 2600) for s in restored.on_candle(_row(month, i, "BTC-USD"))]
    assert a == b and a


def test_an_indicator_without_an_incremental_form_runs_on_the_window_path(month, monkeypatch):
    from tradestream.params import Param, ParamSpace
    from tradestream.strategies import indicators
    from tradestream.strategies.expressions import CLOSE, P, crosses_above, crosses_below
    from tradestream.strategies.spec import StrategySpec

    monkeypatch.setitem(indicators._REGISTRY, "sma_window_only",
                        indicators.IndicatorDef("sma_window_only", indicators.ta.sma, ("close",),
                                                lambda k: k["length"] - 1, int_params=frozenset({"length"})))
    spec = StrategySpec(name="WINDOW_ONLY", description="close crosses an SMA computed only on the window path",
                        space=ParamSpace((Param("n", "int", 5, 50, 20),), owner="WINDOW_ONLY"),
                        entry=crosses_above(CLOSE, Ind("sma_window_only", length=P("n"))),
                        exit=crosses_below(CLOSE, Ind("sma_window_only", length=P("n"))))
    entry = ActiveEntry("WINDOW_ONLY", {"n": 20}, None, ("1m",))
    monkeypatch.setattr(ActiveEntry, "spec", property(lambda self: spec if self.strategy == "WINDOW_ONLY"
                                                      else get_strategy(self.strategy)))
    macd = ActiveEntry("MACD_CROSSOVER", get_strategy("MACD_CROSSOVER").space.defaults(), None, ("1m",))
    active = ActiveStrategySet.of([entry, macd])
    incremental, reference = IncrementalEvaluator(active), LiveEvaluator(active)
    frame = month.iloc[:1500]
    got = [(s.strategy, i, s.type) for i in range(1500) for s in incremental.on_candle(_row(frame, i, "BTC-USD"))]
    want = [(s.strategy, i, s.type) for i in range(1500) for s in reference.on_candle(_row(frame, i, "BTC-USD"))]
    assert sorted(got) == sorted(want) and {s for s, _, _ in got} == {"WINDOW_ONLY", "MACD_CROSSOVER"}
    assert incremental._window_keys == {entry.key}


def test_operation_major_batch_runs_equal_the_live_bar_by_bar_order(month):
    """The batch path (each operation over a chunk of bars) and the live path (every operation
    each bar) compute every slot of all 60 strategies identically."""
    entries = [(s.name, s, s.space.defaults()) for s in list_strategies()]
    program = compile_rules(entries)
    values = candle_values(month.iloc[:5000])
    every_slot = list(range(program.n_slots))
    by_column = run_program(program, values, every_slot)
    by_bar = run_program(program, values, every_slot, bar_major=True)
    assert np.array_equal(by_column, by_bar, equal_nan=True)
