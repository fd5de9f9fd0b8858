"""Registry of the indicators strategies may call, with what the evaluator must know about each.

Each entry wraps one pandas-ta function (or a hand-written one from ``custom``) and
declares:

* ``inputs``: the candle columns it reads by default, in pandas-ta's argument order;
* ``warmup``: bars before its first value (pandas-ta returns NaN or None before that);
* ``memory``: bars after which a value computed on a truncated window equals the value
  computed on the full history, for indicators with recursive state.

Why ``memory`` exists: the live engine keeps only a bounded window of candles. An EMA
started at the window's first candle differs from one started a month earlier by the
seed's remaining weight, ``(1 - alpha) ** bars``. "Tiny" is not enough: a rule compares
values that can tie exactly (a stochastic pinned at 0 against its own average, a close
on a rolling high), and a difference in the last place flips such a comparison. So the
target is bit-identical values. Each step of the filter is the same deterministic
function of (state, input); once two runs started at different bars round to the same
float they stay identical forever. From a difference as large as the value itself, the
gap drops below one unit in the last place after 53 * ln 2 = 37 e-folds; each further
bar then collapses a one-ulp gap with probability of about ``alpha``. ``convergence_bars``
allows ``CONVERGENCE_E_FOLDS`` = 50 e-folds, leaving 13 for the collapse (a one-ulp gap
survives with probability e**-13). The no-skew tests check every bar of the synthetic
month against this bound.

Path-dependent state machines (Parabolic SAR, the ATR trailing stop) forget their start
at the first reversal both runs share; they get a generous fixed allowance, measured on
the synthetic market and proven by the no-skew tests.

Cumulative indicators (OBV, PVT, A/D) differ on a window by a constant offset; rules
only use them in offset-free ways (crossing their own moving average, n-bar highs).

pandas-ta's own arithmetic, always: pandas-ta silently hands many functions (EMA, RSI,
ATR, ADX, STDEV, ...) to TA-Lib whenever ``talib`` is importable, and TA-Lib seeds and
smooths differently (RSI differs by 0.7 points, a volatility stop by 50 dollars on the
synthetic month). TA-Lib is a test dependency here (the independent reference of the
strategy checks), so installing it must not move a strategy's numbers. A ``talib=False``
argument is not enough: pandas-ta's composite indicators (STOCHRSI, TRIX, the mass
index, VWMA, ...) call their parts without passing it on. So this module switches off
pandas-ta's TA-Lib dispatch globally (``pandas_ta.maps.Imports["talib"]``, the flag every
pandas-ta function reads at call time), and tests/strategies/test_pandas_ta_mode.py
checks, in two fresh interpreters, that every indicator of every strategy is
bit-identical with TA-Lib importable and with it hidden.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numba import njit

from tradestream.strategies import custom

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pandas-ta warns about optional extras at import
    import pandas_ta as ta
    from pandas_ta.maps import Imports as _pandas_ta_imports
    from pandas_ta.utils import non_zero_range

# pandas-ta's own arithmetic whether or not TA-Lib is installed (see the module docstring).
_pandas_ta_imports["talib"] = False

CONVERGENCE_E_FOLDS = 50.0  # the seed's weight falls to e**-50 ~ 2**-72 (see above)
# Bars for path-dependent state (SAR, trailing stops) to forget its start; on the
# synthetic market they synchronise within ~150 bars, so this is a wide margin.
PATH_MEMORY = 600

KwArgs = Mapping[str, float]


def convergence_bars(alpha: float) -> int:
    """Bars until a recursive filter with smoothing ``alpha`` computes bit-identical values
    whatever bar it was seeded on (``CONVERGENCE_E_FOLDS`` e-folds of its memory)."""
    if alpha >= 1.0:
        return 0
    return math.ceil(CONVERGENCE_E_FOLDS / -math.log1p(-alpha))


def ema_memory(length: float) -> int:
    return convergence_bars(2.0 / (length + 1.0))


def rma_memory(length: float) -> int:
    """Wilder's smoothing (RSI, ATR, ADX) is an EMA with alpha = 1/length."""
    return convergence_bars(1.0 / length)


def _zero(_: KwArgs) -> int:
    return 0


@dataclass(frozen=True)
class IndicatorDef:
    name: str
    func: Callable[..., pd.Series | pd.DataFrame | tuple | None]
    inputs: tuple[str, ...]
    warmup: Callable[[KwArgs], int]
    memory: Callable[[KwArgs], int] = _zero
    int_params: frozenset[str] = frozenset()
    fixed: Mapping[str, object] = field(default_factory=dict)
    source: Literal["pandas-ta", "custom"] = "pandas-ta"
    note: str = ""

    def check_kwargs(self, kwargs: Mapping[str, object]) -> None:
        accepted = set(inspect.signature(self.func).parameters)
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise TypeError(f"indicator {self.name} has no parameter(s) {unknown}")
        probe = {name: 10.0 for name in kwargs}
        try:
            self.warmup(probe)
            self.memory(probe)
        except KeyError as exc:  # the look-back formula needs it, so pandas-ta's default must not be implied
            raise TypeError(f"indicator {self.name} needs parameter {exc.args[0]!r} given explicitly") from None

    def coerce(self, name: str, value: float) -> float | int:
        return int(value) if name in self.int_params else float(value)

    def compute(self, inputs: list[pd.Series], kwargs: KwArgs) -> pd.Series | pd.DataFrame | None:
        with warnings.catch_warnings():
            # pandas-ta trips pandas' chained-assignment and downcasting warnings; harmless here.
            warnings.simplefilter("ignore")
            result = self.func(*inputs, **kwargs, **self.fixed)
        if isinstance(result, tuple):  # ichimoku returns (values, future projection)
            result = result[0]
        return result

    def select(self, result: pd.Series | pd.DataFrame | None, out: str | None,
               index: pd.Index) -> pd.Series:
        """One output series; all-NaN when the frame was too short for pandas-ta to compute it."""
        if result is None:
            return pd.Series(np.nan, index=index)
        if isinstance(result, pd.Series):
            if out is not None:
                raise KeyError(f"indicator {self.name} has a single output; drop ['{out}']")
            return result
        if out is None:
            raise KeyError(f"indicator {self.name} has outputs {list(result.columns)}; pick one with ['...']")
        matches = [c for c in result.columns if c == out or c.startswith(out + "_")]
        if len(matches) != 1:
            raise KeyError(f"indicator {self.name}: output {out!r} matches {matches} of {list(result.columns)}")
        return result[matches[0]]


_REGISTRY: dict[str, IndicatorDef] = {}


def register(definition: IndicatorDef) -> IndicatorDef:
    _REGISTRY[definition.name] = definition
    return definition


def get_indicator(name: str) -> IndicatorDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"indicator {name!r} is not registered; known: {sorted(_REGISTRY)}") from None


def registered_indicators() -> dict[str, IndicatorDef]:
    return dict(_REGISTRY)


def _cci(high: pd.Series, low: pd.Series, close: pd.Series, length: int = 20, c: float = 0.015) -> pd.Series:
    """Commodity Channel Index from pandas-ta parts.

    pandas-ta 0.4.71b0's ``cci`` computes ``tp - mean / (c * mad)`` (an operator
    precedence slip) instead of Lambert's ``(tp - mean) / (c * mad)``; this composes the
    same pandas-ta building blocks (hlc3, sma, mad) with the right formula, the mean
    absolute deviation through ``rolling_mad``.
    """
    tp = ta.hlc3(high, low, close)
    mean = ta.sma(tp, length=length)
    mad = rolling_mad(tp, length)
    return (tp - mean) / (c * mad)


def rolling_mad(series: pd.Series, length: int) -> pd.Series:
    """pandas-ta's ``mad`` (rolling mean absolute deviation), bit for bit, without its per-window Python call.

    pandas-ta runs ``fabs(w - w.mean()).mean()`` through ``rolling.apply`` once per bar
    (~7 ms per 1,000 bars); the same NumPy reductions over a sliding-window view give
    identical floats (tests/strategies/test_fast_indicators.py) in a fraction of that.
    """
    values = series.to_numpy(dtype="float64")
    out = np.full(values.size, np.nan)
    if values.size >= length:
        windows = np.lib.stride_tricks.sliding_window_view(values, length)
        means = windows.mean(axis=1)
        out[length - 1:] = np.fabs(windows - means[:, None]).mean(axis=1)
    return pd.Series(out, index=series.index, name=f"MAD_{length}")


@njit(cache=True)
def _kama_recursion(sc: np.ndarray, close: np.ndarray, length: int, seed: float) -> np.ndarray:
    out = np.full(close.size, np.nan)
    out[length - 1] = seed
    previous = seed
    for i in range(length, close.size):
        previous = sc[i] * close[i] + (1.0 - sc[i]) * previous
        out[i] = previous
    return out


def _kama(close: pd.Series, length: int = 10, fast: int = 2, slow: int = 30) -> pd.Series | None:
    """pandas-ta's ``kama`` (0.4.71b0) with its recursion compiled.

    pandas-ta computes the smoothing constants vectorized, then runs the recursion
    ``kama[i] = sc[i] * close[i] + (1 - sc[i]) * kama[i-1]`` as a Python loop with three
    ``Series.iat`` reads per bar: 21 ms per candle on VARIABLE_PERIOD_EMA's 5,510-bar live
    window, a fifth of what evaluating all 60 strategies costs. The same steps in the same
    order, the loop in numba, give bit-identical values (tested against ``ta.kama``).
    """
    if close is None or close.size < max(fast, slow, length):
        return None
    fr, sr = 2 / (fast + 1), 2 / (slow + 1)
    abs_diff = non_zero_range(close, close.shift(length)).abs()
    peer_diff = non_zero_range(close, close.shift(1)).abs()
    er = abs_diff / peer_diff.rolling(length).sum()
    x = er * (fr - sr) + sr
    sc = (x * x).to_numpy(dtype="float64")
    seed = float(ta.sma(close.iloc[:length], length=length).iloc[-1])
    values = _kama_recursion(sc, close.to_numpy(dtype="float64"), length, seed)
    return pd.Series(values, index=close.index, name=f"KAMA_{length}_{fast}_{slow}")


def _psar_direction(high: pd.Series, low: pd.Series, close: pd.Series, af0: float = 0.02, af: float = 0.02,
                    max_af: float = 0.2) -> pd.DataFrame | None:
    """pandas-ta ``psar`` plus a dense direction column (+1 SAR below price, -1 above)."""
    frame = ta.psar(high, low, close, af0=af0, af=af, max_af=max_af)
    if frame is None:
        return None
    long_col = next(c for c in frame.columns if c.startswith("PSARl_"))
    direction = np.where(frame[long_col].notna(), 1.0, -1.0)
    direction[0] = np.nan  # the first bar's side is a guess, not a SAR value
    frame["PSARdir"] = direction
    return frame


def _i(*names: str) -> frozenset[str]:
    return frozenset(names)


# --- moving averages ---------------------------------------------------------------
register(IndicatorDef("sma", ta.sma, ("close",), lambda k: k["length"] - 1, int_params=_i("length")))
register(IndicatorDef("ema", ta.ema, ("close",), lambda k: k["length"] - 1,
                      lambda k: ema_memory(k["length"]), _i("length")))
register(IndicatorDef("dema", ta.dema, ("close",), lambda k: 2 * (k["length"] - 1),
                      lambda k: 2 * ema_memory(k["length"]), _i("length")))
register(IndicatorDef("tema", ta.tema, ("close",), lambda k: 3 * (k["length"] - 1),
                      lambda k: 3 * ema_memory(k["length"]), _i("length")))
register(IndicatorDef("vwma", ta.vwma, ("close", "volume"), lambda k: k["length"] - 1, int_params=_i("length")))
register(IndicatorDef("kama", _kama, ("close",), lambda k: max(k["length"], k["slow"]),
                      lambda k: convergence_bars((2.0 / (k["slow"] + 1.0)) ** 2), _i("length", "fast", "slow")))
register(IndicatorDef("linreg", ta.linreg, ("close",), lambda k: k["length"] - 1, int_params=_i("length")))
register(IndicatorDef("hlc3", ta.hlc3, ("high", "low", "close"), _zero))
register(IndicatorDef("frama", custom.frama, ("high", "low", "close"), lambda k: k["length"] - 1,
                      lambda k: ema_memory(k["slow"]), _i("length", "slow"), source="custom",
                      note="pandas-ta has no FRAMA"))

# --- momentum ----------------------------------------------------------------------
register(IndicatorDef("macd", ta.macd, ("close",), lambda k: k["slow"] + k["signal"] - 2,
                      lambda k: ema_memory(k["slow"]) + ema_memory(k["signal"]), _i("fast", "slow", "signal")))
register(IndicatorDef("ppo", ta.ppo, ("close",), lambda k: k["slow"] + k["signal"] - 2,
                      lambda k: ema_memory(k["signal"]), _i("fast", "slow", "signal")))
register(IndicatorDef("rsi", ta.rsi, ("close",), lambda k: k["length"],
                      lambda k: rma_memory(k["length"]), _i("length")))
register(IndicatorDef("stoch", ta.stoch, ("high", "low", "close"), lambda k: k["k"] + k["smooth_k"] + k["d"] - 3,
                      int_params=_i("k", "d", "smooth_k")))
register(IndicatorDef("stochrsi", ta.stochrsi, ("close",),
                      lambda k: k["rsi_length"] + k["length"] + k["k"] + k["d"] - 3,
                      lambda k: rma_memory(k["rsi_length"]), _i("length", "rsi_length", "k", "d")))
register(IndicatorDef("cmo", ta.cmo, ("close",), lambda k: k["length"], int_params=_i("length"),
                      fixed={"talib": False},
                      note="talib=False: Chande's rolling sums; pandas-ta's cmo switches to Wilder smoothing "
                           "whenever its talib flag is on, even with TA-Lib absent"))
register(IndicatorDef("willr", ta.willr, ("high", "low", "close"), lambda k: k["length"] - 1,
                      int_params=_i("length")))
register(IndicatorDef("ao", ta.ao, ("high", "low"), lambda k: k["slow"] - 1, int_params=_i("fast", "slow")))
register(IndicatorDef("mom", ta.mom, ("close",), lambda k: k["length"], int_params=_i("length")))
register(IndicatorDef("roc", ta.roc, ("close",), lambda k: k["length"], int_params=_i("length")))
register(IndicatorDef("kst", ta.kst, ("close",),
                      lambda k: max(k["roc1"] + k["sma1"], k["roc2"] + k["sma2"], k["roc3"] + k["sma3"],
                                    k["roc4"] + k["sma4"]) + k["signal"] - 2,
                      int_params=_i("roc1", "roc2", "roc3", "roc4", "sma1", "sma2", "sma3", "sma4", "signal")))
register(IndicatorDef("trix", ta.trix, ("close",), lambda k: 3 * (k["length"] - 1) + k["signal"],
                      lambda k: 3 * ema_memory(k["length"]), _i("length", "signal")))
register(IndicatorDef("rvgi", ta.rvgi, ("open", "high", "low", "close"),
                      lambda k: k["length"] + 2 * (k["swma_length"] - 1), int_params=_i("length", "swma_length")))
register(IndicatorDef("eri", ta.eri, ("high", "low", "close"), lambda k: k["length"] - 1,
                      lambda k: ema_memory(k["length"]), _i("length")))
register(IndicatorDef("cci", _cci, ("high", "low", "close"), lambda k: k["length"] - 1, int_params=_i("length"),
                      source="custom", note="pandas-ta 0.4.71b0 cci has an operator-precedence bug"))

# --- trend -------------------------------------------------------------------------
register(IndicatorDef("adx", ta.adx, ("high", "low", "close"), lambda k: 2 * k["length"],
                      lambda k: 2 * rma_memory(k["length"]), _i("length")))
register(IndicatorDef("aroon", ta.aroon, ("high", "low"), lambda k: k["length"], int_params=_i("length")))
register(IndicatorDef("psar", _psar_direction, ("high", "low", "close"), lambda k: 2, lambda k: PATH_MEMORY,
                      note="pandas-ta psar with a dense direction column"))
register(IndicatorDef("ichimoku", ta.ichimoku, ("high", "low", "close"),
                      lambda k: k["senkou"] + k["kijun"] - 2, int_params=_i("tenkan", "kijun", "senkou"),
                      fixed={"include_chikou": False},
                      note="without the chikou span, which is shifted into the past (look-ahead)"))
register(IndicatorDef("dpo", ta.dpo, ("close",), lambda k: k["length"] + int(0.5 * k["length"]),
                      int_params=_i("length"), fixed={"centered": False},
                      note="centered=False: the centered DPO looks into the future"))
register(IndicatorDef("increasing", ta.increasing, ("close",), lambda k: k["length"], int_params=_i("length"),
                      fixed={"strict": True, "asint": True}))
register(IndicatorDef("decreasing", ta.decreasing, ("close",), lambda k: k["length"], int_params=_i("length"),
                      fixed={"strict": True, "asint": True}))

# --- volatility --------------------------------------------------------------------
register(IndicatorDef("atr", ta.atr, ("high", "low", "close"), lambda k: k["length"],
                      lambda k: rma_memory(k["length"]), _i("length")))
register(IndicatorDef("bbands", ta.bbands, ("close",), lambda k: k["length"] - 1, int_params=_i("length")))
register(IndicatorDef("donchian", ta.donchian, ("high", "low"),
                      lambda k: max(k["lower_length"], k["upper_length"]) - 1,
                      int_params=_i("lower_length", "upper_length")))
register(IndicatorDef("massi", ta.massi, ("high", "low"), lambda k: 2 * (k["fast"] - 1) + k["slow"] - 1,
                      lambda k: 2 * ema_memory(k["fast"]), _i("fast", "slow")))
register(IndicatorDef("chandelier_exit", ta.chandelier_exit, ("high", "low", "close"),
                      lambda k: max(k["atr_length"], k["high_length"], k["low_length"]),
                      lambda k: rma_memory(k["atr_length"]), _i("high_length", "low_length", "atr_length")))
register(IndicatorDef("atrts", ta.atrts, ("high", "low", "close"), lambda k: k["length"] + k["ma_length"] - 1,
                      lambda k: ema_memory(k["length"]) + ema_memory(k["ma_length"]) + PATH_MEMORY,
                      _i("length", "ma_length"),
                      note="look-back length + ma_length - 1: pandas-ta returns nothing for a shorter frame, "
                           "although a longer one has values from max(length, ma_length) on (found by the "
                           "lookahead check)"))
register(IndicatorDef("stdev", ta.stdev, ("close",), lambda k: k["length"] - 1, int_params=_i("length")))
register(IndicatorDef("ha", ta.ha, ("open", "high", "low", "close"), lambda k: 1,
                      lambda k: convergence_bars(0.5), note="HA open is a running average with alpha 1/2"))

# --- volume ------------------------------------------------------------------------
register(IndicatorDef("obv", ta.obv, ("close", "volume"), lambda k: 1, note="cumulative"))
register(IndicatorDef("pvt", ta.pvt, ("close", "volume"), lambda k: 1, note="cumulative"))
register(IndicatorDef("mfi", ta.mfi, ("high", "low", "close", "volume"), lambda k: k["length"],
                      int_params=_i("length")))
register(IndicatorDef("adosc", ta.adosc, ("high", "low", "close", "volume"), lambda k: k["slow"] - 1,
                      lambda k: ema_memory(k["slow"]), _i("fast", "slow")))
register(IndicatorDef("cmf", ta.cmf, ("high", "low", "close", "volume"), lambda k: k["length"] - 1,
                      int_params=_i("length")))
register(IndicatorDef("kvo", ta.kvo, ("high", "low", "close", "volume"), lambda k: k["slow"] + k["signal"] - 1,
                      lambda k: ema_memory(k["slow"]) + ema_memory(k["signal"]), _i("fast", "slow", "signal")))

# --- hand-written, windowed (see custom.py) -----------------------------------------
register(IndicatorDef("renko", custom.renko, ("close",), lambda k: k["window"] - 1, int_params=_i("window"),
                      source="custom", note="pandas-ta has no Renko bricks"))
register(IndicatorDef("range_bars", custom.range_bars, ("open", "high", "low", "close"),
                      lambda k: k["window"] - 1, int_params=_i("window"), source="custom",
                      note="pandas-ta has no range bars"))
register(IndicatorDef("double_top_bottom", custom.double_top_bottom, ("high", "low", "close"),
                      lambda k: k["window"] - 1, int_params=_i("window", "pivot"), source="custom",
                      note="pandas-ta has no chart-pattern detector"))
register(IndicatorDef("volume_profile", custom.volume_profile, ("high", "low", "volume"),
                      lambda k: k["window"] - 1, int_params=_i("window", "bins"), source="custom",
                      note="pandas-ta's vp bins the whole frame (look-ahead)"))
