"""Every strategy's entry and exit rule, restated from its description over the references.

One function per strategy of ``tradestream/strategies/library.py``, written from the
strategy's documented rule (docs/strategies.md) with the indicators of ``reference.py``
(TA-Lib or NumPy), never with the library's expressions or pandas-ta. Each returns
(entry, exit) boolean arrays over the case's candles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import talib

from tests.strategies import reference as r

Array = np.ndarray
Candles = Mapping[str, Array]
Rule = Callable[[Candles, Mapping[str, float]], tuple[Array, Array]]

RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn
    return register


def _ohlcv(c: Candles) -> tuple[Array, Array, Array, Array, Array]:
    return c["open"], c["high"], c["low"], c["close"], c["volume"]


@rule("ADX_DMI")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    n = int(p["period"])
    plus, minus, adx = talib.PLUS_DI(h, lo, cl, n), talib.MINUS_DI(h, lo, cl, n), talib.ADX(h, lo, cl, n)
    return r.cross_up(plus, minus) & r.above(adx, p["adx_threshold"]), r.cross_down(plus, minus)


@rule("ADX_STOCHASTIC")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    k, _d = talib.STOCH(h, lo, cl, int(p["stoch_period"]), 3, 0, 3, 0)
    adx = talib.ADX(h, lo, cl, int(p["adx_period"]))
    return (r.cross_up(k, p["oversold"]) & r.above(adx, p["adx_threshold"]),
            r.cross_down(k, p["overbought"]))


@rule("AROON_MFI")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    down, up = talib.AROON(h, lo, int(p["aroon_period"]))
    mfi = talib.MFI(h, lo, cl, v, int(p["mfi_period"]))
    return (r.cross_up(up, down) & r.below(mfi, p["overbought"]),
            r.cross_down(up, down) | r.above(mfi, p["overbought"]))


@rule("ATR_CCI")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    cci = talib.CCI(h, lo, cl, int(p["cci_period"]))
    atr = talib.ATR(h, lo, cl, int(p["atr_period"]))
    return (r.cross_up(cci, -p["level"]) & r.above(atr, r.sma(atr, int(p["atr_ma"]))),
            r.cross_down(cci, p["level"]) | r.cross_down(cci, -p["level"]))


@rule("ATR_TRAILING_STOP")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    long_stop, short_stop = r.chandelier(h, lo, cl, int(p["period"]), int(p["atr_period"]), p["multiplier"])
    return r.cross_up(cl, short_stop), r.cross_down(cl, long_stop)


@rule("AWESOME_OSCILLATOR")
def _(c, p):
    median = talib.MEDPRICE(c["high"], c["low"])
    ao = r.sma(median, int(p["fast"])) - r.sma(median, int(p["slow"]))
    return r.cross_up(ao, 0.0), r.cross_down(ao, 0.0)


@rule("BBAND_WILLIAMS_R")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    n = int(p["bb_period"])
    mid = r.sma(cl, n)
    lower = mid - p["std"] * r.sample_std(cl, n)
    wr = talib.WILLR(h, lo, cl, int(p["wr_period"]))
    return (r.below(cl, lower) & r.below(wr, p["oversold"]),
            r.above(cl, mid) | r.above(wr, p["overbought"]))


@rule("CHAIKIN_OSCILLATOR")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    ad = talib.AD(h, lo, cl, v)
    osc = r.ema(ad, int(p["fast"])) - r.ema(ad, int(p["slow"]))
    return r.cross_up(osc, 0.0), r.cross_down(osc, 0.0)


@rule("CMF_ZERO_LINE")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    cmf = r.cmf(h, lo, cl, v, int(p["period"]))
    return r.cross_up(cmf, p["threshold"]), r.cross_down(cmf, -p["threshold"])


@rule("CMO_MFI")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    cmo = r.cmo_chande(cl, int(p["cmo_period"]))
    mfi = talib.MFI(h, lo, cl, v, int(p["mfi_period"]))
    return (r.cross_up(cmo, -p["cmo_level"]) & r.below(mfi, 50.0),
            r.cross_down(cmo, p["cmo_level"]) | r.above(mfi, p["mfi_overbought"]))


@rule("DEMA_TEMA_CROSSOVER")
def _(c, p):
    cl = c["close"]
    tema, dema = talib.TEMA(cl, int(p["tema_period"])), talib.DEMA(cl, int(p["dema_period"]))
    return r.cross_up(tema, dema), r.cross_down(tema, dema)


@rule("DONCHIAN_BREAKOUT")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    upper = r.shift(r.highest(h, int(p["entry_period"])))
    lower = r.shift(r.lowest(lo, int(p["exit_period"])))
    return r.above(cl, upper), r.below(cl, lower)


@rule("DOUBLE_EMA_CROSSOVER")
def _(c, p):
    cl = c["close"]
    short, long_ = talib.EMA(cl, int(p["short_period"])), talib.EMA(cl, int(p["long_period"]))
    return r.cross_up(short, long_), r.cross_down(short, long_)


@rule("DPO_CROSSOVER")
def _(c, p):
    cl, n = c["close"], int(p["period"])
    dpo = cl - r.shift(r.sma(cl, n), n // 2 + 1)  # causal DPO: close minus the SMA of n//2+1 bars ago
    return r.cross_up(dpo, 0.0), r.cross_down(dpo, 0.0)


@rule("ELDER_RAY_MA")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    ema = talib.EMA(cl, int(p["period"]))
    bull, bear = h - ema, lo - ema
    return (r.above(ema, r.shift(ema)) & r.below(bear, 0.0) & r.above(bear, r.shift(bear)),
            r.below(ema, r.shift(ema)) & r.above(bull, 0.0) & r.below(bull, r.shift(bull)))


def _macd(cl: Array, p: Mapping[str, float]) -> tuple[Array, Array]:
    """Appel's MACD: EMA(fast) - EMA(slow), signal = EMA(signal) of that line (TA-Lib's EMAs; its
    MACD function realigns the fast EMA's seed to the slow one's, so it is not used)."""
    line = talib.EMA(cl, int(p["fast"])) - talib.EMA(cl, int(p["slow"]))
    return line, talib.EMA(line, int(p["signal"]))


@rule("EMA_MACD")
def _(c, p):
    cl = c["close"]
    macd, signal = _macd(cl, p)
    return (r.cross_up(macd, signal) & r.above(cl, talib.EMA(cl, int(p["ema_period"]))),
            r.cross_down(macd, signal))


@rule("FIBONACCI_RETRACEMENTS")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    n = int(p["swing_period"])
    high, low = r.highest(h, n + 1), r.lowest(lo, n + 1)
    down, up = talib.AROON(h, lo, n)
    span = high - low
    return (r.above(up, down) & r.cross_up(cl, high - span * p["entry_level"]),
            r.cross_up(cl, high - span * p["target_level"]) | r.below(cl, r.shift(low)))


@rule("FRAMA")
def _(c, p):
    frama = r.frama(c["high"], c["low"], int(p["length"]), int(p["slow"]))
    return r.cross_up(c["close"], frama), r.cross_down(c["close"], frama)


@rule("GANN_SWING")
def _(c, p):
    _, h, lo, _, _ = _ohlcv(c)
    n = int(p["swing_bars"])
    return (r.strictly_rising(h, n) & r.strictly_rising(lo, n),
            r.strictly_falling(h, n) & r.strictly_falling(lo, n))


@rule("HEIKEN_ASHI")
def _(c, p):
    ha_open, ha_close = r.heikin_ashi(*_ohlcv(c)[:4])
    n = int(p["confirm"])
    return r.run_of(r.above(ha_close, ha_open), n), r.run_of(r.below(ha_close, ha_open), n)


@rule("ICHIMOKU_CLOUD")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    ts, ks, a, b = r.ichimoku(h, lo, int(p["tenkan"]), int(p["kijun"]), int(p["senkou"]))
    return (r.cross_up(cl, np.maximum(a, b)) & r.above(ts, ks),
            r.cross_down(cl, np.minimum(a, b)) | r.cross_down(ts, ks))


@rule("KLINGER_VOLUME")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    line, signal = r.kvo(h, lo, cl, v, int(p["fast"]), int(p["slow"]), int(p["signal"]))
    return r.cross_up(line, signal), r.cross_down(line, signal)


@rule("KST_OSCILLATOR")
def _(c, p):
    cl = c["close"]
    smooth = (10, 10, 10, 15)
    kst = 100 * sum(w * r.sma(r.roc(cl, int(p[f"roc{w}"])), s) / 100 for w, s in zip((1, 2, 3, 4), smooth, strict=True))
    signal = r.sma(kst, int(p["signal"]))
    return r.cross_up(kst, signal), r.cross_down(kst, signal)


@rule("LINEAR_REGRESSION_CHANNELS")
def _(c, p):
    cl, n = c["close"], int(p["period"])
    line, sd = r.linreg(cl, n), r.sample_std(cl, n)
    return (r.cross_up(cl, line - sd * p["width"]),
            r.cross_up(cl, line) | r.cross_down(cl, line - sd * 2 * p["width"]))


@rule("MACD_CROSSOVER")
def _(c, p):
    macd, signal = _macd(c["close"], p)
    return r.cross_up(macd, signal), r.cross_down(macd, signal)


@rule("MASS_INDEX")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    n = int(p["sum_period"])
    mass = r.mass_index(h, lo, int(p["ema_period"]), n)
    done = r.any_of_last(r.above(mass, n * p["bulge_ratio"]), n) & r.cross_down(mass, n * p["reversal_ratio"])
    trend = talib.EMA(cl, int(p["trend_period"]))
    return done & r.below(cl, trend), (done & r.above(cl, trend)) | r.cross_down(cl, trend)


@rule("MOMENTUM_PINBALL")
def _(c, p):
    pinball = talib.RSI(r.roc(c["close"], int(p["roc_period"])), int(p["rsi_period"]))
    return r.below(pinball, p["oversold"]), r.above(pinball, p["overbought"])


@rule("MOMENTUM_SMA_CROSSOVER")
def _(c, p):
    cl = c["close"]
    mom, average = talib.MOM(cl, int(p["momentum_period"])), r.sma(cl, int(p["sma_period"]))
    return r.above(mom, 0.0) & r.cross_up(cl, average), r.cross_down(cl, average)


@rule("OBV_EMA")
def _(c, p):
    obv = talib.OBV(c["close"], c["volume"])
    average = r.ema(obv, int(p["period"]))
    return r.cross_up(obv, average), r.cross_down(obv, average)


def _sar_side(c: Candles, p: Mapping[str, float]) -> Array:
    """+1 where Wilder's SAR sits below the low (uptrend), -1 above the high."""
    sar = talib.SAR(c["high"], c["low"], p["af_step"], p["max_af"])
    side = np.where(sar < c["low"], 1.0, -1.0)
    side[np.isnan(sar)] = np.nan
    return side


@rule("PARABOLIC_SAR")
def _(c, p):
    side = _sar_side(c, p)
    return r.cross_up(side, 0.0), r.cross_down(side, 0.0)


@rule("PIVOT")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    n = int(p["period"])
    high, low = r.shift(r.highest(h, n)), r.shift(r.lowest(lo, n))
    pivot = (high + low + r.shift(cl)) / 3.0
    return r.cross_up(cl, pivot), r.cross_up(cl, 2 * pivot - low) | r.cross_down(cl, 2 * pivot - high)


@rule("PRICE_GAP")
def _(c, p):
    o, h, lo, cl, _ = _ohlcv(c)
    atr = r.shift(talib.ATR(h, lo, cl, int(p["atr_period"])))
    previous = r.shift(cl)
    return (r.above(o - previous, atr * p["gap_atr"]) & r.above(cl, o),
            r.above(previous - o, atr * p["gap_atr"]) | r.cross_down(cl, talib.EMA(cl, int(p["exit_period"]))))


@rule("PRICE_OSCILLATOR_SIGNAL")
def _(c, p):
    cl = c["close"]
    fast, slow = r.sma(cl, int(p["fast"])), r.sma(cl, int(p["slow"]))
    ppo = 100 * (fast - slow) / slow
    signal = r.ema(ppo, int(p["signal"]))
    return r.cross_up(ppo, signal), r.cross_down(ppo, signal)


def _pvt(cl: Array, v: Array) -> Array:
    """Price-volume trend: cumulative sum of volume x one-bar percent change (from bar 1)."""
    change = 100.0 * (cl / r.shift(cl) - 1.0) * v
    out = np.cumsum(np.nan_to_num(change))
    out[0] = np.nan
    return out


@rule("PVT")
def _(c, p):
    pvt = _pvt(c["close"], c["volume"])
    signal = r.sma(pvt, int(p["signal"]))
    return r.cross_up(pvt, signal), r.cross_down(pvt, signal)


@rule("RAINBOW_OSCILLATOR")
def _(c, p):
    cl, n, look = c["close"], int(p["ma_length"]), int(p["lookback"])
    levels, level = [], cl
    for _ in range(10):
        level = r.sma(level, n)
        levels.append(level)
    osc = (cl - sum(levels) / 10) * 100 / (r.highest(cl, look) - r.lowest(cl, look))
    return r.cross_up(osc, p["level"]), r.cross_down(osc, -p["level"])


@rule("REGRESSION_CHANNEL")
def _(c, p):
    cl, n = c["close"], int(p["period"])
    line, sd = r.linreg(cl, n), r.sample_std(cl, n)
    return r.above(line, r.shift(line)) & r.cross_up(cl, line + sd * p["width"]), r.cross_down(cl, line)


@rule("ROC_MA_CROSSOVER")
def _(c, p):
    roc = talib.ROC(c["close"], int(p["roc_period"]))
    average = r.sma(roc, int(p["ma_period"]))
    return r.cross_up(roc, average), r.cross_down(roc, average)


@rule("RSI_EMA_CROSSOVER")
def _(c, p):
    rsi = talib.RSI(c["close"], int(p["rsi_period"]))
    average = r.ema(rsi, int(p["ema_period"]))
    return r.cross_up(rsi, average), r.cross_down(rsi, average)


@rule("RVI")
def _(c, p):
    line, signal = r.rvgi(*_ohlcv(c)[:4], int(p["period"]))
    return r.cross_up(line, signal), r.cross_down(line, signal)


@rule("SAR_MFI")
def _(c, p):
    side = _sar_side(c, p)
    mfi = talib.MFI(c["high"], c["low"], c["close"], c["volume"], int(p["mfi_period"]))
    return r.cross_up(side, 0.0) & r.above(mfi, p["mfi_threshold"]), r.cross_down(side, 0.0)


@rule("SMA_EMA_CROSSOVER")
def _(c, p):
    cl = c["close"]
    ema, sma = talib.EMA(cl, int(p["ema_period"])), talib.SMA(cl, int(p["sma_period"]))
    return r.cross_up(ema, sma), r.cross_down(ema, sma)


@rule("SMA_RSI")
def _(c, p):
    cl = c["close"]
    rsi = talib.RSI(cl, int(p["rsi_period"]))
    return r.below(rsi, p["oversold"]), r.above(rsi, p["overbought"]) | r.cross_up(cl, r.sma(cl, int(p["ma_period"])))


@rule("STOCHASTIC_EMA")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    k, _d = talib.STOCH(h, lo, cl, int(p["k_period"]), 3, 0, 3, 0)
    ema = talib.EMA(cl, int(p["ema_period"]))
    return (r.cross_up(k, p["oversold"]) & r.above(cl, ema),
            r.cross_down(k, p["overbought"]) | r.cross_down(cl, ema))


@rule("STOCHASTIC_RSI")
def _(c, p):
    k, d = r.stoch_rsi(c["close"], int(p["rsi_period"]), int(p["stoch_period"]), 3, 3)
    return (r.cross_up(k, d) & r.below(k, p["oversold"]),
            r.cross_down(k, d) & r.above(k, p["overbought"]))


@rule("TICK_VOLUME_ANALYSIS")
def _(c, p):
    o, _, _, cl, _ = _ohlcv(c)
    ticks = c["trade_count"]
    surge = r.above(ticks, r.sma(ticks, int(p["period"])) * p["multiplier"])
    return surge & r.above(cl, o), surge & r.below(cl, o)


@rule("TRIPLE_EMA_CROSSOVER")
def _(c, p):
    cl = c["close"]
    short, medium, long_ = (talib.EMA(cl, int(p[k])) for k in ("short_period", "medium_period", "long_period"))
    return r.cross_up(short, medium) & r.above(medium, long_), r.cross_down(short, medium)


@rule("TRIX_SIGNAL_LINE")
def _(c, p):
    trix = talib.TRIX(c["close"], int(p["length"]))
    signal = r.sma(trix, int(p["signal"]))
    return r.cross_up(trix, signal), r.cross_down(trix, signal)


@rule("VARIABLE_PERIOD_EMA")
def _(c, p):
    cl = c["close"]
    kama = _kama(cl, int(p["er_period"]), int(p["fast"]), int(p["slow"]))
    return r.cross_up(cl, kama), r.cross_down(cl, kama)


def _kama(cl: Array, n: int, fast: int, slow: int) -> Array:
    """Kaufman (1995): ER = |close - close n ago| / sum of n one-bar moves,
    sc = (ER (2/(fast+1) - 2/(slow+1)) + 2/(slow+1))^2, kama += sc (close - kama), seeded with
    the SMA of the first n closes (TA-Lib's KAMA fixes fast=2, slow=30, so it cannot be the reference)."""
    er = np.abs(cl - r.shift(cl, n)) / r.rolling_sum(np.abs(np.diff(cl, prepend=np.nan)), n)
    fr, sr = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)
    sc = (er * (fr - sr) + sr) ** 2
    out = np.full(cl.shape, np.nan)
    out[n - 1] = cl[:n].mean()
    for t in range(n, cl.size):
        out[t] = out[t - 1] + sc[t] * (cl[t] - out[t - 1])
    return out


@rule("VOLATILITY_STOP")
def _(c, p):
    _, h, lo, cl, _ = _ohlcv(c)
    stop = r.atr_trailing_stop(h, lo, cl, int(p["atr_period"]), int(p["ma_period"]), p["multiplier"])
    return r.cross_up(cl, stop), r.cross_down(cl, stop)


@rule("VOLUME_BREAKOUT")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    n = int(p["period"])
    return (r.above(cl, r.shift(r.highest(h, n))) & r.above(v, r.sma(v, n) * p["volume_multiplier"]),
            r.below(cl, r.shift(r.lowest(lo, int(p["exit_period"])))))


@rule("VOLUME_PROFILE_DEVIATIONS")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    n = int(p["period"])
    tp = (h + lo + cl) / 3.0
    mean = r.vwma(tp, v, n)
    with np.errstate(invalid="ignore"):
        sd = np.sqrt(r.vwma(tp * tp, v, n) - mean * mean)
    return (r.cross_up(cl, mean - sd * p["deviations"]),
            r.cross_up(cl, mean) | r.cross_down(cl, mean - sd * 2 * p["deviations"]))


@rule("VOLUME_SPREAD_ANALYSIS")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    n, spread = int(p["period"]), h - lo
    effort = r.above(v, r.sma(v, n) * p["volume_multiplier"]) & r.above(spread, r.sma(spread, n))
    return (effort & r.above(cl - lo, spread * p["close_position"]),
            effort & r.below(cl - lo, spread * (1 - p["close_position"])))


@rule("VOLUME_WEIGHTED_MACD")
def _(c, p):
    cl, v = c["close"], c["volume"]
    line = r.vwma(cl, v, int(p["fast"])) - r.vwma(cl, v, int(p["slow"]))
    signal = r.ema(line, int(p["signal"]))
    return r.cross_up(line, signal), r.cross_down(line, signal)


@rule("VPT")
def _(c, p):
    cl, n = c["close"], int(p["period"])
    vpt = _pvt(cl, c["volume"])
    return (r.above(vpt, r.shift(r.highest(vpt, n))) & r.above(cl, r.sma(cl, n)),
            r.below(vpt, r.shift(r.lowest(vpt, n))))


@rule("VWAP_CROSSOVER")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    vwap = r.vwma((h + lo + cl) / 3.0, v, int(p["period"]))
    return r.cross_up(cl, vwap), r.cross_down(cl, vwap)


@rule("VWAP_MEAN_REVERSION")
def _(c, p):
    _, h, lo, cl, v = _ohlcv(c)
    vwap = r.vwma((h + lo + cl) / 3.0, v, int(p["period"]))
    return r.below(cl, vwap * (1 - p["deviation_pct"] / 100)), r.cross_up(cl, vwap)
