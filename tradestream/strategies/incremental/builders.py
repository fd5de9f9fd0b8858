"""Each registered indicator as the steps pandas-ta (0.4.71b0) takes, in kernel operations.

A builder receives the input slots (in the registry's input order: ``Ind("ema", OBV)``
replaces ``close``) and the resolved keyword arguments (with the registry's fixed ones),
and returns its output slots by short column name (``None`` for a single series). The
steps, and the order of every floating-point operation in them, follow pandas-ta's
source: ``scalar * (a - b) / c`` is ``(100 * (a - b)) / c``, not ``100 * ((a - b) / c)``.
tests/strategies/test_incremental.py compares every builder with the registered
(pandas-ta) function on the synthetic month, bar for bar.

An indicator without a builder, or a parameter a builder does not cover, raises
``NotIncremental``: strategies using it stay on the window path.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas_ta as ta

from tradestream.strategies.incremental import kernels as K
from tradestream.strategies.incremental.program import Builder, NotIncremental, Outputs, ProgramBuilder

_BUILDERS: dict[str, Builder] = {}


def builder_for(name: str) -> Builder:
    try:
        return _BUILDERS[name]
    except KeyError:
        raise NotIncremental(f"indicator {name!r} has no incremental builder") from None


def incremental_indicators() -> frozenset[str]:
    return frozenset(_BUILDERS)


def _register(name: str) -> Callable[[Builder], Builder]:
    def wrap(fn: Builder) -> Builder:
        _BUILDERS[name] = fn
        return fn
    return wrap


def _only(kw: dict[str, object], *allowed: str, **fixed: object) -> None:
    """NotIncremental for keyword arguments the builder does not reproduce."""
    extra = sorted(k for k in kw if k not in allowed and k not in fixed)
    wrong = sorted(k for k, v in fixed.items() if k in kw and kw[k] != v)
    if extra or wrong:
        raise NotIncremental(f"no incremental form for argument(s) {extra + wrong}")


# ---------------------------------------------------------------- shared pieces


def _diff(b: ProgramBuilder, x: int, bars: int = 1) -> int:
    return b.sub(x, b.shift(x, bars))


def _roc(b: ProgramBuilder, x: int, length: int) -> int:
    """nb_roc: (100 * (x - x[n ago])) / x[n ago]."""
    past = b.shift(x, length)
    return b.div(b.scalar(K.MULC, b.sub(x, past), 100.0), past)


def _hlc3(b: ProgramBuilder, high: int, low: int, close: int) -> int:
    return b.scalar(K.DIVC, b.add(b.add(high, low), close), 3.0)


def _rsi(b: ProgramBuilder, close: int, length: int) -> int:
    change = _diff(b, close)
    up, down = b.rma(b.unary(K.CLIPLO0, change), length), b.rma(b.unary(K.CLIPHI0, change), length)
    return b.div(b.scalar(K.MULC, up, 100.0), b.add(up, b.unary(K.ABS, down)))


def _atr(b: ProgramBuilder, high: int, low: int, close: int, length: int, mamode: str = "rma",
         prenan: bool = False) -> int:
    """pandas-ta's atr: true range, its first ``length`` values replaced by their mean (presma),
    then smoothed by ``mamode``."""
    tr = b.emit(K.TRUERANGE, (high, low, close), (int(prenan),), state=(float("nan"), 0.0))
    seeded = b.emit(K.PRESMA, (tr,), (length, 0), state=(0.0, 0.0) + (float("nan"),) * length)
    if mamode == "rma":
        return b.rma(seeded, length)
    if mamode == "ema":
        return b.ema(seeded, length)
    raise NotIncremental(f"atr mamode {mamode!r}")


def _midprice(b: ProgramBuilder, high: int, low: int, length: int) -> int:
    return b.scalar(K.MULC, b.add(b.rolling(K.ROLLMIN, low, length), b.rolling(K.ROLLMAX, high, length)), 0.5)


def _ad(b: ProgramBuilder, high: int, low: int, close: int, volume: int) -> int:
    """pandas-ta's ad without open: (2 close - (high + low)) * (volume / non_zero_range(high, low))."""
    money_flow = b.sub(b.scalar(K.MULC, close, 2.0), b.add(high, low))
    return b.mul(money_flow, b.div(volume, b.nzr(high, low)))


# ---------------------------------------------------------------- moving averages


@_register("sma")
def _sma_builder(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    return {None: b.sma(x[0], kw["length"])}


@_register("ema")
def _ema_builder(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    return {None: b.ema(x[0], kw["length"])}


@_register("dema")
def _dema(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    e1 = b.ema(x[0], kw["length"])
    e2 = b.ema(e1, kw["length"])
    return {None: b.sub(b.scalar(K.MULC, e1, 2.0), e2)}


@_register("tema")
def _tema(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    e1 = b.ema(x[0], kw["length"])
    e2 = b.ema(e1, kw["length"])
    e3 = b.ema(e2, kw["length"])
    return {None: b.add(b.scalar(K.MULC, b.sub(e1, e2), 3.0), e3)}


@_register("vwma")
def _vwma(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    close, volume = x
    return {None: b.div(b.sma(b.mul(close, volume), kw["length"]), b.sma(volume, kw["length"]))}


@_register("kama")
def _kama(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "fast", "slow")
    close, length = x[0], kw["length"]
    fr, sr = 2 / (kw["fast"] + 1), 2 / (kw["slow"] + 1)
    abs_diff = b.unary(K.ABS, b.nzr(close, b.shift(close, length)))
    peer_diff = b.unary(K.ABS, b.nzr(close, b.shift(close, 1)))
    er = b.div(abs_diff, b.rolling(K.ROLLSUM, peer_diff, length))
    smooth = b.scalar(K.ADDC, b.scalar(K.MULC, er, fr - sr), sr)
    sc = b.mul(smooth, smooth)
    return {None: b.emit(K.KAMA, (close, sc), (length,), state=(float("nan"),) + (float("nan"),) * length)}


@_register("linreg")
def _linreg(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    length = kw["length"]
    x_sum = 0.5 * length * (length + 1)
    x2_sum = x_sum * (2 * length + 1) / 3
    divisor = length * x2_sum - x_sum * x_sum
    return {None: b.emit(K.LINREG, (x[0],), (length,), (x_sum, x2_sum, divisor),
                         state=(0.0,) + (float("nan"),) * length)}


@_register("hlc3")
def _hlc3_builder(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw)
    return {None: _hlc3(b, *x)}


@_register("frama")
def _frama(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "slow")
    high, low, _ = x
    length = kw["length"]
    if length < 2:
        raise NotIncremental(f"frama length={length}")
    state = (float("nan"),) + (0.0,) + (float("nan"),) * length + (0.0,) + (float("nan"),) * length
    return {None: b.emit(K.FRAMA, (high, low), (length,), (2.0 / (kw["slow"] + 1.0),), state=state)}


# ---------------------------------------------------------------- momentum


@_register("macd")
def _macd(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "fast", "slow", "signal")
    fast, slow = sorted((kw["fast"], kw["slow"]))
    line = b.sub(b.ema(x[0], fast), b.ema(x[0], slow))
    signal = b.ema(line, kw["signal"], first_valid=True)  # pandas-ta: ema(macd.loc[first_valid_index():])
    return {"MACD": line, "MACDh": b.sub(line, signal), "MACDs": signal}


@_register("ppo")
def _ppo(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "fast", "slow", "signal")
    fast, slow = sorted((kw["fast"], kw["slow"]))
    fast_ma, slow_ma = b.sma(x[0], fast), b.sma(x[0], slow)
    ppo = b.div(b.scalar(K.MULC, b.sub(fast_ma, slow_ma), 100.0), slow_ma)
    signal = b.ema(ppo, kw["signal"])
    return {"PPO": ppo, "PPOh": b.sub(ppo, signal), "PPOs": signal}


@_register("rsi")
def _rsi_builder(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    return {None: _rsi(b, x[0], kw["length"])}


@_register("stoch")
def _stoch(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "k", "d", "smooth_k")
    high, low, close = x
    lowest, highest = b.rolling(K.ROLLMIN, low, kw["k"]), b.rolling(K.ROLLMAX, high, kw["k"])
    stoch = b.div(b.scalar(K.MULC, b.sub(close, lowest), 100.0), b.nzr(highest, lowest))
    k = stoch if kw["smooth_k"] == 1 else b.sma(stoch, kw["smooth_k"])
    d = b.sma(k, kw["d"])
    return {"STOCHk": k, "STOCHd": d, "STOCHh": b.sub(k, d)}


@_register("stochrsi")
def _stochrsi(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "rsi_length", "k", "d")
    rsi = _rsi(b, x[0], kw["rsi_length"])
    lowest, highest = b.rolling(K.ROLLMIN, rsi, kw["length"]), b.rolling(K.ROLLMAX, rsi, kw["length"])
    stoch = b.div(b.scalar(K.MULC, b.sub(rsi, lowest), 100.0), b.nzr(highest, lowest))
    k = b.sma(stoch, kw["k"])
    return {"STOCHRSIk": k, "STOCHRSId": b.sma(k, kw["d"])}


@_register("cmo")
def _cmo(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", talib=False)
    change = _diff(b, x[0])
    gains = b.rolling(K.ROLLSUM, b.unary(K.CLIPLO0, change), kw["length"])
    losses = b.rolling(K.ROLLSUM, b.unary(K.ABS, b.unary(K.CLIPHI0, change)), kw["length"])
    return {None: b.div(b.scalar(K.MULC, b.sub(gains, losses), 100.0), b.add(gains, losses))}


@_register("willr")
def _willr(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    high, low, close = x
    lowest, highest = b.rolling(K.ROLLMIN, low, kw["length"]), b.rolling(K.ROLLMAX, high, kw["length"])
    ratio = b.div(b.sub(close, lowest), b.sub(highest, lowest))
    return {None: b.scalar(K.MULC, b.scalar(K.SUBC, ratio, 1.0), 100.0)}


@_register("ao")
def _ao(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "fast", "slow")
    fast, slow = sorted((kw["fast"], kw["slow"]))
    median = b.scalar(K.MULC, b.add(x[0], x[1]), 0.5)
    return {None: b.sub(b.sma(median, fast), b.sma(median, slow))}


@_register("mom")
def _mom(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    return {None: _diff(b, x[0], kw["length"])}


@_register("roc")
def _roc_builder(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    return {None: _roc(b, x[0], kw["length"])}


@_register("kst")
def _kst(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "roc1", "roc2", "roc3", "roc4", "sma1", "sma2", "sma3", "sma4", "signal")
    parts = [b.rolling(K.ROLLMEAN, _roc(b, x[0], kw[f"roc{i}"]), kw[f"sma{i}"]) for i in (1, 2, 3, 4)]
    total = b.add(b.add(b.add(parts[0], b.scalar(K.MULC, parts[1], 2.0)), b.scalar(K.MULC, parts[2], 3.0)),
                  b.scalar(K.MULC, parts[3], 4.0))
    kst = b.scalar(K.MULC, total, 100.0)
    return {"KST": kst, "KSTs": b.rolling(K.ROLLMEAN, kst, kw["signal"])}


@_register("trix")
def _trix(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "signal")
    length, signal = kw["length"], kw["signal"]
    if length < signal:
        length, signal = signal, length
    e3 = b.ema(b.ema(b.ema(x[0], length), length), length)
    trix = b.scalar(K.MULC, b.emit(K.PCTCHANGE, (e3,), state=(float("nan"),)), 100.0)
    return {"TRIX": trix, "TRIXs": b.rolling(K.ROLLMEAN, trix, signal)}


@_register("rvgi")
def _rvgi(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "swma_length")
    open_, high, low, close = x
    length, swma_length = kw["length"], kw["swma_length"]
    if swma_length >= 16:  # NumPy's dot of >= 16 values runs OpenBLAS's vector kernel, not its tail loop
        raise NotIncremental(f"rvgi swma_length={swma_length}")
    weights = [float(w) for w in ta.symmetric_triangle(swma_length, weighted=True)]

    def swma(series: int) -> int:
        return b.window_dot(K.DOTFMA, series, weights)

    numerator = b.rolling(K.ROLLSUM, swma(b.nzr(close, open_)), length)
    denominator = b.rolling(K.ROLLSUM, swma(b.nzr(high, low)), length)
    rvgi = b.div(numerator, denominator)
    return {"RVGI": rvgi, "RVGIs": swma(rvgi)}


@_register("eri")
def _eri(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    high, low, close = x
    ema = b.ema(close, kw["length"])
    return {"BULLP": b.sub(high, ema), "BEARP": b.sub(low, ema)}


@_register("cci")
def _cci(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "c")
    length, c = kw["length"], float(kw.get("c", 0.015))
    tp = _hlc3(b, *x)
    mad = b.emit(K.MAD, (tp,), (length,), state=(0.0,) + (float("nan"),) * length)
    return {None: b.div(b.sub(tp, b.sma(tp, length)), b.scalar(K.MULC, mad, c))}


# ---------------------------------------------------------------- trend


@_register("adx")
def _adx(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    high, low, close = x
    length = kw["length"]
    k = b.scalar(K.RDIVC, _atr(b, high, low, close, length, prenan=True), 100.0)
    up = b.sub(high, b.shift(high, 1))
    dn = b.sub(b.shift(low, 1), low)
    zero = b.const(0.0)

    def directional(move: int, other: int) -> int:
        taken = b.binary(K.AND, b.binary(K.GT, move, other), b.binary(K.GT, move, zero))
        return b.unary(K.ZERO, b.mul(taken, move))

    dmp = b.mul(k, b.rma(directional(up, dn), length))
    dmn = b.mul(k, b.rma(directional(dn, up), length))
    dx = b.div(b.scalar(K.MULC, b.unary(K.ABS, b.sub(dmp, dmn)), 100.0), b.add(dmp, dmn))
    adx = b.rma(dx, length)
    adxr = b.scalar(K.MULC, b.add(adx, b.shift(adx, 2)), 0.5)
    return {"ADX": adx, "ADXR": adxr, "DMP": dmp, "DMN": dmn}


@_register("aroon")
def _aroon(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    high, low = x
    length = kw["length"]

    def line(since: int) -> int:
        return b.scalar(K.MULC, b.scalar(K.RSUBC, b.scalar(K.DIVC, since, float(length)), 1.0), 100.0)

    up = line(b.rolling(K.ARGMAXR, high, length + 1))
    down = line(b.rolling(K.ARGMINR, low, length + 1))
    return {"AROOND": down, "AROONU": up, "AROONOSC": b.sub(up, down)}


@_register("psar")
def _psar(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "af0", "af", "max_af")
    high, low, close = x
    af = float(kw.get("af") or 0.02)
    af0 = float(kw.get("af0") or af)
    max_af = float(kw.get("max_af") or 0.2)
    return {"PSARdir": b.emit(K.PSARDIR, (high, low, close), floats=(af0, max_af), state=(0.0,) * 6)}


@_register("ichimoku")
def _ichimoku(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "tenkan", "kijun", "senkou", include_chikou=False)
    high, low, _ = x
    kijun = kw["kijun"]
    tenkan_sen = _midprice(b, high, low, kw["tenkan"])
    kijun_sen = _midprice(b, high, low, kijun)
    span_a = b.scalar(K.MULC, b.add(tenkan_sen, kijun_sen), 0.5)
    span_b = _midprice(b, high, low, kw["senkou"])
    return {"ISA": b.shift(span_a, kijun - 1), "ISB": b.shift(span_b, kijun - 1), "ITS": tenkan_sen,
            "IKS": kijun_sen}


@_register("dpo")
def _dpo(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", centered=False)
    length = kw["length"]
    return {None: b.sub(x[0], b.shift(b.sma(x[0], length), int(0.5 * length) + 1))}


def _monotonic(b: ProgramBuilder, x: int, length: int, opcode: int) -> int:
    """pandas-ta's increasing/decreasing with strict=True: every one of the last length - 1 steps."""
    result = b.binary(opcode, x, b.shift(x, 1))
    for lag in range(3, length + 1):
        result = b.binary(K.AND, result, b.binary(opcode, b.shift(x, lag - 2), b.shift(x, lag - 1)))
    return result


@_register("increasing")
def _increasing(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", strict=True, asint=True)
    return {None: _monotonic(b, x[0], kw["length"], K.GT)}


@_register("decreasing")
def _decreasing(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", strict=True, asint=True)
    return {None: _monotonic(b, x[0], kw["length"], K.LT)}


# ---------------------------------------------------------------- volatility


@_register("atr")
def _atr_builder(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    return {None: _atr(b, *x, kw["length"])}


def _stdev(b: ProgramBuilder, x: int, length: int) -> int:
    return b.unary(K.SQRT, b.rolling(K.ROLLVAR, x, length, ddof=1))


@_register("bbands")
def _bbands(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "lower_std", "upper_std")
    close, length = x[0], kw["length"]
    std = _stdev(b, close, length)
    mid = b.sma(close, length)
    lower = b.sub(mid, b.scalar(K.MULC, std, float(kw.get("lower_std") or 2.0)))
    upper = b.add(mid, b.scalar(K.MULC, std, float(kw.get("upper_std") or 2.0)))
    width = b.nzr(upper, lower)
    return {"BBL": lower, "BBM": mid, "BBU": upper, "BBB": b.div(b.scalar(K.MULC, width, 100.0), mid),
            "BBP": b.div(b.nzr(close, lower), width)}


@_register("donchian")
def _donchian(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "lower_length", "upper_length")
    high, low = x
    lower = b.rolling(K.ROLLMIN, low, kw["lower_length"])
    upper = b.rolling(K.ROLLMAX, high, kw["upper_length"])
    return {"DCL": lower, "DCM": b.scalar(K.MULC, b.add(lower, upper), 0.5), "DCU": upper}


@_register("massi")
def _massi(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "fast", "slow")
    fast, slow = sorted((kw["fast"], kw["slow"]))
    e1 = b.ema(b.nzr(x[0], x[1]), fast)
    e2 = b.ema(e1, fast)
    return {None: b.rolling(K.ROLLSUM, b.div(e1, e2), slow)}


@_register("chandelier_exit")
def _chandelier(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "high_length", "low_length", "atr_length", "multiplier")
    high, low, close = x
    atr_mult = b.scalar(K.MULC, _atr(b, high, low, close, kw["atr_length"]), float(kw.get("multiplier") or 2.0))
    long = b.sub(b.rolling(K.ROLLMAX, high, kw["high_length"], min_periods=1), atr_mult)
    short = b.add(b.rolling(K.ROLLMIN, low, kw["low_length"], min_periods=1), atr_mult)
    return {"CHDLREXTl": long, "CHDLREXTs": short}


@_register("atrts")
def _atrts(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length", "ma_length", "k")
    high, low, close = x
    length, ma_length = kw["length"], kw["ma_length"]
    atr_k = b.scalar(K.MULC, _atr(b, high, low, close, length, mamode="ema"), float(kw.get("k") or 3.0))
    ma = b.ema(close, ma_length)
    return {None: b.emit(K.ATRTS, (close, ma, atr_k), (max(length, ma_length),), state=(float("nan"),))}


@_register("stdev")
def _stdev_builder(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    return {None: _stdev(b, x[0], kw["length"])}


@_register("ha")
def _ha(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw)
    first = b.emit(K.HA, tuple(x), state=(0.0, 0.0), outputs=4)
    return {"HA_open": first, "HA_high": first + 1, "HA_low": first + 2, "HA_close": first + 3}


# ---------------------------------------------------------------- volume


def _cumsum(b: ProgramBuilder, x: int) -> int:
    return b.emit(K.CUMSUM, (x,), state=(0.0,))


@_register("obv")
def _obv(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw)
    close, volume = x
    return {None: _cumsum(b, b.mul(b.unary(K.SIGN, _diff(b, close)), volume))}


@_register("pvt")
def _pvt(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw)
    close, volume = x
    return {None: _cumsum(b, b.mul(_roc(b, close, 1), volume))}


@_register("mfi")
def _mfi(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    high, low, close, volume = x
    length = kw["length"]
    tp = _hlc3(b, high, low, close)
    flow = b.mul(b.mul(tp, volume), b.binary(K.POSNEG, tp, b.shift(tp, 1)))
    zero = b.const(0.0)
    gains = b.window_dot(K.DOTBLAS1, b.binary(K.MAXNAN, flow, zero), [1.0] * length)
    losses = b.window_dot(K.DOTBLAS1, b.binary(K.MAXNAN, b.unary(K.NEG, flow), zero), [1.0] * length)
    mfi = b.div(b.scalar(K.MULC, gains, 100.0), b.scalar(K.ADDC, b.add(gains, losses), K.EPS))
    return {None: b.emit(K.MASKHEAD, (mfi,), (length,))}


@_register("adosc")
def _adosc(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "fast", "slow")
    ad = _cumsum(b, _ad(b, *x))
    return {None: b.sub(b.ema(ad, kw["fast"]), b.ema(ad, kw["slow"]))}


@_register("cmf")
def _cmf(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "length")
    volume, length = x[3], kw["length"]
    return {None: b.div(b.rolling(K.ROLLSUM, _ad(b, *x), length), b.rolling(K.ROLLSUM, volume, length))}


@_register("kvo")
def _kvo(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "fast", "slow", "signal")
    high, low, close, volume = x
    tp = _hlc3(b, high, low, close)
    signed_volume = b.mul(volume, b.unary(K.SIGN, _diff(b, tp)))
    kvo = b.sub(b.ema(signed_volume, kw["fast"], first_valid=True), b.ema(signed_volume, kw["slow"], first_valid=True))
    return {"KVO": kvo, "KVOs": b.ema(kvo, kw["signal"], first_valid=True)}


# ---------------------------------------------------------------- hand-written, windowed (custom.py)


def _rings(columns: int, window: int) -> tuple[float, ...]:
    return ((0.0,) + (float("nan"),) * window) * columns


@_register("renko")
def _renko(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "brick_pct", "window")
    window, brick = kw["window"], float(kw["brick_pct"])
    if brick <= 0 or window < 2:
        raise NotIncremental(f"renko brick_pct={brick}, window={window}")
    first = b.emit(K.RENKO, (x[0],), (window,), (brick / 100.0,), state=_rings(1, window), outputs=3)
    return {"RENKO_dir": first, "RENKO_new": first + 1, "RENKO_run": first + 2}


@_register("range_bars")
def _range_bars(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "range_pct", "window")
    window, pct = kw["window"], float(kw["range_pct"])
    if pct <= 0 or window < 2:
        raise NotIncremental(f"range_bars range_pct={pct}, window={window}")
    first = b.emit(K.RANGEBARS, tuple(x), (window,), (pct / 100.0,), state=_rings(4, window), outputs=2)
    return {"RANGE_closed": first, "RANGE_run": first + 1}


@_register("double_top_bottom")
def _double(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "window", "pivot", "tolerance_pct")
    window, pivot, tolerance = kw["window"], kw["pivot"], float(kw["tolerance_pct"])
    if window < 2 * pivot + 3 or pivot < 1 or tolerance <= 0:
        raise NotIncremental(f"double_top_bottom window={window}, pivot={pivot}, tolerance_pct={tolerance}")
    first = b.emit(K.DOUBLE, tuple(x), (window, pivot), (tolerance / 100.0,), state=_rings(3, window), outputs=3)
    return {"DBL_bottom": first, "DBL_top": first + 1, "DBL_support": first + 2}


@_register("volume_profile")
def _volume_profile(b: ProgramBuilder, x: list[int], kw: dict) -> Outputs:
    _only(kw, "window", "bins", "value_area")
    window, bins, area = kw["window"], kw["bins"], float(kw["value_area"])
    if window < 2 or bins < 2 or not 0 < area <= 1:
        raise NotIncremental(f"volume_profile window={window}, bins={bins}, value_area={area}")
    first = b.emit(K.VPROFILE, tuple(x), (window, bins), (area,), state=_rings(3, window), outputs=3)
    return {"VP_poc": first, "VP_val": first + 1, "VP_vah": first + 2}
