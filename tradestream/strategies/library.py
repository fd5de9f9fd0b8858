"""The 60 strategies of TradeStream, declared.

Each entry names the pandas-ta indicators it reads, its entry and exit conditions and
its parameter space. Rules are evaluated at a bar's close; the shared long-only
semantics (``positions.py``) turn them into BUY and SELL signals. Periods are in bars
of whatever timeframe the candles have. Where a strategy needs something pandas-ta
lacks (Renko bricks, range bars, chart patterns, a rolling volume profile, FRAMA), it
uses the hand-written, separately tested indicators in ``custom.py``.
"""

from __future__ import annotations

from tradestream.params import Constraint, Param, ParamSpace
from tradestream.strategies.expressions import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    TRADE_COUNT,
    VOLUME,
    Cond,
    Ind,
    P,
    Sqrt,
    crosses_above,
    crosses_below,
    falling,
    happened_within,
    held_for,
    highest,
    lowest,
    maximum,
    minimum,
    rising,
)
from tradestream.strategies.spec import StrategySpec

SPECS: list[StrategySpec] = []


def _int(name: str, low: int, high: int, default: int, description: str) -> Param:
    return Param(name, "int", low, high, default, description=description)


def _float(name: str, low: float, high: float, default: float, description: str) -> Param:
    # floats throughout, so a default and the same value read from a config give one params key
    return Param(name, "float", float(low), float(high), float(default), description=description)


def _lt(left: str, right: str) -> Constraint:
    return Constraint(left, "<", right)


def strategy(name: str, family: str, description: str, params: list[Param], entry: Cond, exit: Cond,
             constraints: tuple[Constraint, ...] = ()) -> None:
    SPECS.append(StrategySpec(name=name, description=description,
                              space=ParamSpace(tuple(params), constraints, owner=name),
                              entry=entry, exit=exit, family=family))


# --------------------------------------------------------------------------- ADX / DMI

_adx = Ind("adx", length=P("period"))
strategy(
    "ADX_DMI", "trend",
    "Directional movement: buy when +DI crosses above -DI while ADX shows a trend stronger than "
    "the threshold; sell when +DI crosses back below -DI.",
    [_int("period", 7, 30, 14, "DI and ADX period"),
     _float("adx_threshold", 10, 40, 20, "minimum ADX for a trend")],
    entry=crosses_above(_adx["DMP"], _adx["DMN"]) & (_adx["ADX"] > P("adx_threshold")),
    exit=crosses_below(_adx["DMP"], _adx["DMN"]),
)

_adx2 = Ind("adx", length=P("adx_period"))
_stoch = Ind("stoch", k=P("stoch_period"), d=3, smooth_k=3)
strategy(
    "ADX_STOCHASTIC", "momentum",
    "Buy pullbacks in trends: %K leaves the oversold zone while ADX is above the threshold; sell "
    "when %K falls back out of the overbought zone.",
    [_int("adx_period", 7, 30, 14, "ADX period"),
     _int("stoch_period", 5, 30, 14, "stochastic %K look-back"),
     _float("adx_threshold", 10, 40, 20, "minimum ADX for a trend"),
     _float("oversold", 5, 40, 20, "%K oversold level"),
     _float("overbought", 60, 95, 80, "%K overbought level")],
    entry=crosses_above(_stoch["STOCHk"], P("oversold")) & (_adx2["ADX"] > P("adx_threshold")),
    exit=crosses_below(_stoch["STOCHk"], P("overbought")),
    constraints=(_lt("oversold", "overbought"),),
)

# --------------------------------------------------------------------------- Aroon / MFI

_aroon = Ind("aroon", length=P("aroon_period"))
_mfi = Ind("mfi", length=P("mfi_period"))
strategy(
    "AROON_MFI", "trend",
    "Aroon Up crosses above Aroon Down (a fresh high is more recent than the last low) while the "
    "money flow index is not overbought; sell on the opposite cross or when MFI turns overbought.",
    [_int("aroon_period", 10, 50, 25, "Aroon look-back"),
     _int("mfi_period", 7, 28, 14, "MFI period"),
     _float("overbought", 65, 95, 80, "MFI overbought level")],
    entry=crosses_above(_aroon["AROONU"], _aroon["AROOND"]) & (_mfi < P("overbought")),
    exit=crosses_below(_aroon["AROONU"], _aroon["AROOND"]) | (_mfi > P("overbought")),
)

# --------------------------------------------------------------------------- ATR based

_cci = Ind("cci", length=P("cci_period"))
_atr = Ind("atr", length=P("atr_period"))
strategy(
    "ATR_CCI", "volatility",
    "CCI recovers from oversold (crosses above -level) while ATR is above its moving average, so "
    "the move has volatility behind it; sell when CCI falls out of overbought or back below -level.",
    [_int("cci_period", 10, 40, 20, "CCI period"),
     _float("level", 50, 200, 100, "CCI overbought/oversold magnitude"),
     _int("atr_period", 7, 28, 14, "ATR period"),
     _int("atr_ma", 10, 50, 20, "moving average of ATR")],
    entry=crosses_above(_cci, -P("level")) & (_atr > Ind("sma", _atr, length=P("atr_ma"))),
    exit=crosses_below(_cci, P("level")) | crosses_below(_cci, -P("level")),
)

_chandelier = Ind("chandelier_exit", high_length=P("period"), low_length=P("period"),
                  atr_length=P("atr_period"), multiplier=P("multiplier"))
strategy(
    "ATR_TRAILING_STOP", "volatility",
    "Chandelier stops as stop-and-reverse: buy when the close rallies above the short stop "
    "(lowest low + multiplier x ATR); sell when it falls below the long stop (highest high - "
    "multiplier x ATR).",
    [_int("period", 10, 60, 22, "highest-high / lowest-low look-back"),
     _int("atr_period", 7, 30, 14, "ATR period"),
     _float("multiplier", 1.0, 5.0, 3.0, "ATR multiple of the stop distance")],
    entry=crosses_above(CLOSE, _chandelier["CHDLREXTs"]),
    exit=crosses_below(CLOSE, _chandelier["CHDLREXTl"]),
)

_ao = Ind("ao", fast=P("fast"), slow=P("slow"))
strategy(
    "AWESOME_OSCILLATOR", "momentum",
    "Bill Williams' Awesome Oscillator (fast minus slow SMA of the median price) crosses the zero "
    "line: above to buy, below to sell.",
    [_int("fast", 3, 10, 5, "fast SMA period"), _int("slow", 20, 60, 34, "slow SMA period")],
    entry=crosses_above(_ao, 0), exit=crosses_below(_ao, 0),
    constraints=(_lt("fast", "slow"),),
)

_bb = Ind("bbands", length=P("bb_period"), lower_std=P("std"), upper_std=P("std"))
_willr = Ind("willr", length=P("wr_period"))
strategy(
    "BBAND_WILLIAMS_R", "mean_reversion",
    "Mean reversion: buy when the close is below the lower Bollinger band and Williams %R is "
    "oversold; sell when the close regains the middle band or %R turns overbought.",
    [_int("bb_period", 10, 50, 20, "Bollinger period"),
     _float("std", 1.0, 3.0, 2.0, "band width in standard deviations"),
     _int("wr_period", 7, 28, 14, "Williams %R period"),
     _float("oversold", -95, -70, -80, "%R oversold level"),
     _float("overbought", -30, -5, -20, "%R overbought level")],
    entry=(CLOSE < _bb["BBL"]) & (_willr < P("oversold")),
    exit=(CLOSE > _bb["BBM"]) | (_willr > P("overbought")),
    constraints=(_lt("oversold", "overbought"),),
)

# --------------------------------------------------------------------------- volume oscillators

_adosc = Ind("adosc", fast=P("fast"), slow=P("slow"))
strategy(
    "CHAIKIN_OSCILLATOR", "volume",
    "Chaikin oscillator (fast minus slow EMA of accumulation/distribution) crosses zero: above "
    "to buy, below to sell.",
    [_int("fast", 2, 6, 3, "fast EMA of A/D"), _int("slow", 7, 20, 10, "slow EMA of A/D")],
    entry=crosses_above(_adosc, 0), exit=crosses_below(_adosc, 0),
    constraints=(_lt("fast", "slow"),),
)

_cmf = Ind("cmf", length=P("period"))
strategy(
    "CMF_ZERO_LINE", "volume",
    "Chaikin money flow crosses above +threshold (buying pressure) to buy and below -threshold "
    "to sell; threshold 0 is the classic zero-line rule.",
    [_int("period", 10, 50, 20, "CMF period"),
     _float("threshold", 0.0, 0.2, 0.0, "dead band around zero")],
    entry=crosses_above(_cmf, P("threshold")), exit=crosses_below(_cmf, -P("threshold")),
)

_cmo = Ind("cmo", length=P("cmo_period"))
_mfi2 = Ind("mfi", length=P("mfi_period"))
strategy(
    "CMO_MFI", "momentum",
    "Chande momentum turns up out of oversold (crosses above -level) while money flow is below "
    "50; sell when CMO drops out of overbought (+level) or MFI becomes overbought.",
    [_int("cmo_period", 7, 30, 14, "CMO period"),
     _float("cmo_level", 20, 70, 50, "CMO overbought/oversold magnitude"),
     _int("mfi_period", 7, 28, 14, "MFI period"),
     _float("mfi_overbought", 60, 95, 80, "MFI overbought level")],
    entry=crosses_above(_cmo, -P("cmo_level")) & (_mfi2 < 50),
    exit=crosses_below(_cmo, P("cmo_level")) | (_mfi2 > P("mfi_overbought")),
)

# --------------------------------------------------------------------------- moving-average crosses

_tema = Ind("tema", length=P("tema_period"))
_dema = Ind("dema", length=P("dema_period"))
strategy(
    "DEMA_TEMA_CROSSOVER", "trend",
    "The faster triple EMA crosses above the double EMA to buy, below to sell.",
    [_int("tema_period", 5, 40, 10, "TEMA period"), _int("dema_period", 10, 80, 20, "DEMA period")],
    entry=crosses_above(_tema, _dema), exit=crosses_below(_tema, _dema),
    constraints=(_lt("tema_period", "dema_period"),),
)

_dc = Ind("donchian", lower_length=P("exit_period"), upper_length=P("entry_period"))
strategy(
    "DONCHIAN_BREAKOUT", "breakout",
    "Turtle-style channel breakout: buy when the close exceeds the highest high of the previous "
    "entry_period bars; sell when it falls below the lowest low of the previous exit_period bars.",
    [_int("entry_period", 10, 120, 20, "breakout channel length"),
     _int("exit_period", 5, 60, 10, "exit channel length")],
    entry=CLOSE > _dc["DCU"].prev(), exit=CLOSE < _dc["DCL"].prev(),
    constraints=(Constraint("exit_period", "<=", "entry_period"),),
)

_ema_short = Ind("ema", length=P("short_period"))
_ema_long = Ind("ema", length=P("long_period"))
strategy(
    "DOUBLE_EMA_CROSSOVER", "trend",
    "Short EMA crosses above the long EMA to buy, below to sell.",
    [_int("short_period", 3, 30, 10, "short EMA"), _int("long_period", 10, 100, 30, "long EMA")],
    entry=crosses_above(_ema_short, _ema_long), exit=crosses_below(_ema_short, _ema_long),
    constraints=(_lt("short_period", "long_period"),),
)

_double = Ind("double_top_bottom", window=P("window"), pivot=P("pivot"), tolerance_pct=P("tolerance_pct"))
strategy(
    "DOUBLE_TOP_BOTTOM", "pattern",
    "Chart pattern: buy when a double bottom completes (the close breaks above the neckline "
    "between two equal pivot lows); sell when a double top completes or the close breaks below "
    "the base of the last two pivot lows.",
    [_int("window", 40, 300, 120, "candles searched for the pattern"),
     _int("pivot", 2, 8, 3, "candles on each side that make a pivot"),
     _float("tolerance_pct", 0.05, 1.0, 0.15, "how equal the two lows/highs must be, in percent")],
    entry=_double["DBL_bottom"] > 0.5,
    exit=(_double["DBL_top"] > 0.5) | (_double["DBL_support"] > 0.5),
)

_dpo = Ind("dpo", length=P("period"))
strategy(
    "DPO_CROSSOVER", "cycle",
    "Detrended price oscillator (close minus the SMA from half a period ago; the non-centered, "
    "causal form) crosses zero: above to buy, below to sell.",
    [_int("period", 10, 60, 20, "DPO period")],
    entry=crosses_above(_dpo, 0), exit=crosses_below(_dpo, 0),
)

_eri = Ind("eri", length=P("period"))
_eri_ema = Ind("ema", length=P("period"))
strategy(
    "ELDER_RAY_MA", "trend",
    "Elder ray: with the EMA rising, buy when bear power is negative but rising; with the EMA "
    "falling, sell when bull power is positive but falling.",
    [_int("period", 5, 50, 13, "EMA period of the ray")],
    entry=rising(_eri_ema) & (_eri["BEARP"] < 0) & rising(_eri["BEARP"]),
    exit=falling(_eri_ema) & (_eri["BULLP"] > 0) & falling(_eri["BULLP"]),
)

_macd_e = Ind("macd", fast=P("fast"), slow=P("slow"), signal=P("signal"))
_trend_e = Ind("ema", length=P("ema_period"))
strategy(
    "EMA_MACD", "trend",
    "MACD crosses above its signal line while the close is above a trend EMA; sell when MACD "
    "crosses back below the signal.",
    [_int("fast", 8, 16, 12, "MACD fast EMA"), _int("slow", 20, 32, 26, "MACD slow EMA"),
     _int("signal", 5, 12, 9, "MACD signal EMA"), _int("ema_period", 20, 200, 50, "trend EMA")],
    entry=crosses_above(_macd_e["MACD"], _macd_e["MACDs"]) & (CLOSE > _trend_e),
    exit=crosses_below(_macd_e["MACD"], _macd_e["MACDs"]),
    constraints=(_lt("fast", "slow"),),
)

# --------------------------------------------------------------------------- Fibonacci

_swing = Ind("donchian", lower_length=P("swing_period") + 1, upper_length=P("swing_period") + 1)
_swing_aroon = Ind("aroon", length=P("swing_period"))
_swing_high, _swing_low = _swing["DCU"], _swing["DCL"]
_swing_range = _swing_high - _swing_low
strategy(
    "FIBONACCI_RETRACEMENTS", "pattern",
    "In an upswing (the swing high is more recent than the swing low), buy when the close climbs "
    "back above the entry_level retracement (e.g. 61.8%); sell when it reaches the target_level "
    "retracement near the high, or breaks below the swing low.",
    [_int("swing_period", 20, 200, 60, "bars that define the swing"),
     _float("entry_level", 0.382, 0.786, 0.618, "retracement bought"),
     _float("target_level", 0.0, 0.382, 0.236, "retracement taken as the target")],
    entry=(_swing_aroon["AROONU"] > _swing_aroon["AROOND"])
    & crosses_above(CLOSE, _swing_high - _swing_range * P("entry_level")),
    exit=crosses_above(CLOSE, _swing_high - _swing_range * P("target_level")) | (CLOSE < _swing_low.prev()),
    constraints=(_lt("target_level", "entry_level"),),
)

_frama = Ind("frama", length=P("length"), slow=P("slow"))
strategy(
    "FRAMA", "trend",
    "Close crosses above Ehlers' fractal adaptive moving average to buy, below to sell.",
    [_int("length", 8, 60, 16, "fractal dimension window"),
     _int("slow", 20, 200, 50, "slowest EMA the average may become")],
    entry=crosses_above(CLOSE, _frama), exit=crosses_below(CLOSE, _frama),
)

_gann = P("swing_bars") + 1
strategy(
    "GANN_SWING", "pattern",
    "Gann swing chart: the swing turns up after swing_bars consecutive higher highs and higher "
    "lows (buy) and turns down after as many lower highs and lower lows (sell).",
    [_int("swing_bars", 1, 5, 2, "consecutive bars that turn the swing")],
    entry=(Ind("increasing", HIGH, length=_gann) > 0.5) & (Ind("increasing", LOW, length=_gann) > 0.5),
    exit=(Ind("decreasing", HIGH, length=_gann) > 0.5) & (Ind("decreasing", LOW, length=_gann) > 0.5),
)

_ha = Ind("ha")
strategy(
    "HEIKEN_ASHI", "trend",
    "Heikin-Ashi candles: buy after `confirm` bullish HA candles in a row, sell after as many "
    "bearish ones.",
    [_int("confirm", 1, 5, 2, "consecutive HA candles of one colour")],
    entry=held_for(_ha["HA_close"] > _ha["HA_open"], P("confirm")),
    exit=held_for(_ha["HA_close"] < _ha["HA_open"], P("confirm")),
)

_ichi = Ind("ichimoku", tenkan=P("tenkan"), kijun=P("kijun"), senkou=P("senkou"))
strategy(
    "ICHIMOKU_CLOUD", "trend",
    "Buy when the close breaks above the cloud (both senkou spans) with tenkan above kijun; sell "
    "when it falls below the cloud or tenkan crosses below kijun. No chikou span (look-ahead).",
    [_int("tenkan", 5, 20, 9, "conversion line period"), _int("kijun", 15, 60, 26, "base line period"),
     _int("senkou", 30, 120, 52, "leading span B period")],
    entry=crosses_above(CLOSE, maximum(_ichi["ISA"], _ichi["ISB"])) & (_ichi["ITS"] > _ichi["IKS"]),
    exit=crosses_below(CLOSE, minimum(_ichi["ISA"], _ichi["ISB"])) | crosses_below(_ichi["ITS"], _ichi["IKS"]),
    constraints=(_lt("tenkan", "kijun"), _lt("kijun", "senkou")),
)

_kvo = Ind("kvo", fast=P("fast"), slow=P("slow"), signal=P("signal"))
strategy(
    "KLINGER_VOLUME", "volume",
    "Klinger volume oscillator crosses above its signal line to buy, below to sell.",
    [_int("fast", 20, 50, 34, "fast EMA of volume force"), _int("slow", 40, 80, 55, "slow EMA"),
     _int("signal", 5, 20, 13, "signal EMA")],
    entry=crosses_above(_kvo["KVO"], _kvo["KVOs"]), exit=crosses_below(_kvo["KVO"], _kvo["KVOs"]),
    constraints=(_lt("fast", "slow"),),
)

_kst = Ind("kst", roc1=P("roc1"), roc2=P("roc2"), roc3=P("roc3"), roc4=P("roc4"),
           sma1=10, sma2=10, sma3=10, sma4=15, signal=P("signal"))
strategy(
    "KST_OSCILLATOR", "momentum",
    "Pring's Know Sure Thing (weighted smoothed ROCs of four periods) crosses above its signal "
    "line to buy, below to sell.",
    [_int("roc1", 5, 15, 10, "shortest ROC"), _int("roc2", 10, 20, 15, "second ROC"),
     _int("roc3", 15, 25, 20, "third ROC"), _int("roc4", 20, 40, 30, "longest ROC"),
     _int("signal", 5, 15, 9, "signal SMA")],
    entry=crosses_above(_kst["KST"], _kst["KSTs"]), exit=crosses_below(_kst["KST"], _kst["KSTs"]),
    constraints=(_lt("roc1", "roc2"), _lt("roc2", "roc3"), _lt("roc3", "roc4")),
)

# --------------------------------------------------------------------------- regression

_lr = Ind("linreg", length=P("period"))
_lr_sd = Ind("stdev", length=P("period"))
strategy(
    "LINEAR_REGRESSION_CHANNELS", "mean_reversion",
    "Mean reversion inside a linear-regression channel (regression line +- width standard "
    "deviations): buy when the close climbs back above the lower channel; sell at the "
    "regression line, or when the close falls a second channel width below it.",
    [_int("period", 20, 200, 50, "regression window"),
     _float("width", 1.0, 3.0, 2.0, "channel half-width in standard deviations")],
    entry=crosses_above(CLOSE, _lr - _lr_sd * P("width")),
    exit=crosses_above(CLOSE, _lr) | crosses_below(CLOSE, _lr - _lr_sd * (P("width") * 2)),
)

_macd = Ind("macd", fast=P("fast"), slow=P("slow"), signal=P("signal"))
strategy(
    "MACD_CROSSOVER", "trend",
    "MACD line crosses above its signal line to buy, below to sell.",
    [_int("fast", 8, 16, 12, "fast EMA"), _int("slow", 20, 32, 26, "slow EMA"),
     _int("signal", 5, 12, 9, "signal EMA")],
    entry=crosses_above(_macd["MACD"], _macd["MACDs"]), exit=crosses_below(_macd["MACD"], _macd["MACDs"]),
    constraints=(_lt("fast", "slow"),),
)

_mass = Ind("massi", fast=P("ema_period"), slow=P("sum_period"))
_mass_trend = Ind("ema", length=P("trend_period"))
_bulge = happened_within(_mass > P("sum_period") * P("bulge_ratio"), P("sum_period"))
_bulge_done = _bulge & crosses_below(_mass, P("sum_period") * P("reversal_ratio"))
strategy(
    "MASS_INDEX", "volatility",
    "Dorsey's reversal bulge: the mass index rises above bulge_ratio x sum_period (27 for 25) and "
    "falls back below reversal_ratio x sum_period (26.5). Buy such a reversal in a downtrend "
    "(close below the trend EMA); sell on one in an uptrend or when the close drops below the EMA.",
    [_int("ema_period", 5, 15, 9, "EMA of the high-low range"),
     _int("sum_period", 15, 40, 25, "bars summed"),
     _float("bulge_ratio", 1.02, 1.2, 1.08, "bulge level per summed bar"),
     _float("reversal_ratio", 1.0, 1.15, 1.06, "reversal level per summed bar"),
     _int("trend_period", 5, 50, 9, "trend EMA")],
    entry=_bulge_done & (CLOSE < _mass_trend),
    exit=(_bulge_done & (CLOSE > _mass_trend)) | crosses_below(CLOSE, _mass_trend),
    constraints=(_lt("reversal_ratio", "bulge_ratio"),),
)

_pinball = Ind("rsi", Ind("roc", length=P("roc_period")), length=P("rsi_period"))
strategy(
    "MOMENTUM_PINBALL", "momentum",
    "Raschke's momentum pinball: a short RSI of the one-bar rate of change. Buy when it is "
    "oversold, sell when it is overbought.",
    [_int("roc_period", 1, 5, 1, "rate-of-change period"), _int("rsi_period", 2, 7, 3, "RSI of the ROC"),
     _float("oversold", 10, 40, 30, "buy level"), _float("overbought", 60, 90, 70, "sell level")],
    entry=_pinball < P("oversold"), exit=_pinball > P("overbought"),
    constraints=(_lt("oversold", "overbought"),),
)

_mom = Ind("mom", length=P("momentum_period"))
_mom_sma = Ind("sma", length=P("sma_period"))
strategy(
    "MOMENTUM_SMA_CROSSOVER", "momentum",
    "Close crosses above its SMA while momentum (close minus the close n bars ago) is positive; "
    "sell when the close crosses back below the SMA.",
    [_int("momentum_period", 5, 30, 10, "momentum period"), _int("sma_period", 10, 100, 20, "SMA period")],
    entry=(_mom > 0) & crosses_above(CLOSE, _mom_sma), exit=crosses_below(CLOSE, _mom_sma),
)

_obv = Ind("obv")
_obv_ema = Ind("ema", _obv, length=P("period"))
strategy(
    "OBV_EMA", "volume",
    "On-balance volume crosses above its EMA (volume flows in) to buy, below to sell.",
    [_int("period", 5, 60, 20, "EMA of OBV")],
    entry=crosses_above(_obv, _obv_ema), exit=crosses_below(_obv, _obv_ema),
)

_psar = Ind("psar", af0=P("af_step"), af=P("af_step"), max_af=P("max_af"))
strategy(
    "PARABOLIC_SAR", "trend",
    "Wilder's parabolic SAR flips below the price (uptrend) to buy and above it to sell.",
    [_float("af_step", 0.01, 0.05, 0.02, "acceleration factor start and step"),
     _float("max_af", 0.1, 0.5, 0.2, "maximum acceleration factor")],
    entry=crosses_above(_psar["PSARdir"], 0), exit=crosses_below(_psar["PSARdir"], 0),
    constraints=(_lt("af_step", "max_af"),),
)

_piv = Ind("donchian", lower_length=P("period"), upper_length=P("period"))
_pivot = (_piv["DCU"].prev() + _piv["DCL"].prev() + CLOSE.prev()) / 3
strategy(
    "PIVOT", "support_resistance",
    "Floor-trader pivots over the previous `period` bars (P = (H + L + C) / 3, R1 = 2P - L, "
    "S1 = 2P - H): buy when the close crosses above P; sell at R1 or below S1.",
    [_int("period", 10, 240, 60, "bars of the reference period")],
    entry=crosses_above(CLOSE, _pivot),
    exit=crosses_above(CLOSE, _pivot * 2 - _piv["DCL"].prev()) | crosses_below(CLOSE, _pivot * 2 - _piv["DCU"].prev()),
)

_gap_atr = Ind("atr", length=P("atr_period")).prev()
strategy(
    "PRICE_GAP", "breakout",
    "Gap and go: buy when a bar opens more than gap_atr x ATR above the previous close and closes "
    "above its open; sell on a gap down of the same size or when the close drops below an EMA.",
    [_float("gap_atr", 0.5, 5.0, 1.5, "gap size in ATRs"), _int("atr_period", 7, 30, 14, "ATR period"),
     _int("exit_period", 5, 50, 20, "exit EMA")],
    entry=(OPEN - CLOSE.prev() > _gap_atr * P("gap_atr")) & (CLOSE > OPEN),
    exit=(CLOSE.prev() - OPEN > _gap_atr * P("gap_atr"))
    | crosses_below(CLOSE, Ind("ema", length=P("exit_period"))),
)

_ppo = Ind("ppo", fast=P("fast"), slow=P("slow"), signal=P("signal"))
strategy(
    "PRICE_OSCILLATOR_SIGNAL", "momentum",
    "Percentage price oscillator crosses above its signal line to buy, below to sell.",
    [_int("fast", 5, 20, 12, "fast average"), _int("slow", 20, 50, 26, "slow average"),
     _int("signal", 5, 15, 9, "signal EMA")],
    entry=crosses_above(_ppo["PPO"], _ppo["PPOs"]), exit=crosses_below(_ppo["PPO"], _ppo["PPOs"]),
    constraints=(_lt("fast", "slow"),),
)

_pvt = Ind("pvt")
_pvt_signal = Ind("sma", _pvt, length=P("signal"))
strategy(
    "PVT", "volume",
    "Price-volume trend crosses above its SMA to buy, below to sell.",
    [_int("signal", 5, 50, 20, "SMA of PVT")],
    entry=crosses_above(_pvt, _pvt_signal), exit=crosses_below(_pvt, _pvt_signal),
)

_rainbow_levels = []
_level = CLOSE
for _ in range(10):
    _level = Ind("sma", _level, length=P("ma_length"))
    _rainbow_levels.append(_level)
_rainbow_mean = _rainbow_levels[0]
for _lvl in _rainbow_levels[1:]:
    _rainbow_mean = _rainbow_mean + _lvl
_rainbow_mean = _rainbow_mean / 10
_rainbow = (CLOSE - _rainbow_mean) * 100 / (highest(CLOSE, P("lookback")) - lowest(CLOSE, P("lookback")))
strategy(
    "RAINBOW_OSCILLATOR", "trend",
    "Widner's rainbow: ten recursively smoothed SMAs; the oscillator is the close's distance from "
    "their mean as a percentage of the lookback range. Buy when it crosses above +level, sell "
    "when it crosses below -level.",
    [_int("ma_length", 2, 5, 2, "period of each of the ten SMAs"),
     _int("lookback", 5, 100, 10, "high-low range period"),
     _float("level", 0, 30, 5, "dead band around zero, in percent of the range")],
    entry=crosses_above(_rainbow, P("level")), exit=crosses_below(_rainbow, -P("level")),
)

_range = Ind("range_bars", range_pct=P("range_pct"), window=P("window"))
strategy(
    "RANGE_BARS", "pattern",
    "Range bars (a bar closes when its high-low range reaches range_pct percent, regardless of "
    "time): buy when an up range bar completes a run of `confirm` up bars; sell when a down "
    "range bar completes.",
    [_float("range_pct", 0.1, 2.0, 0.3, "range of each bar in percent"),
     _int("window", 60, 600, 240, "candles the bars are built from"),
     _int("confirm", 1, 5, 2, "consecutive up bars to buy")],
    entry=(_range["RANGE_closed"] > 0.5) & (_range["RANGE_run"] >= P("confirm")),
    exit=_range["RANGE_closed"] < -0.5,
)

strategy(
    "REGRESSION_CHANNEL", "breakout",
    "Trend breakout from a regression channel: buy when the regression line is rising and the "
    "close breaks above the upper channel (line + width standard deviations); sell when the "
    "close falls back below the regression line.",
    [_int("period", 20, 200, 50, "regression window"),
     _float("width", 0.5, 3.0, 1.5, "channel half-width in standard deviations")],
    entry=rising(_lr) & crosses_above(CLOSE, _lr + _lr_sd * P("width")),
    exit=crosses_below(CLOSE, _lr),
)

_renko = Ind("renko", brick_pct=P("brick_pct"), window=P("window"))
strategy(
    "RENKO_CHART", "pattern",
    "Renko bricks of brick_pct percent: buy when a new up brick makes a run of `confirm` up "
    "bricks; sell when a down brick forms (a two-brick reversal).",
    [_float("brick_pct", 0.05, 2.0, 0.25, "brick size in percent"),
     _int("window", 60, 600, 240, "candles the bricks are built from"),
     _int("confirm", 1, 5, 2, "consecutive up bricks to buy")],
    entry=(_renko["RENKO_new"] > 0.5) & (_renko["RENKO_run"] >= P("confirm")),
    exit=_renko["RENKO_new"] < -0.5,
)

_roc = Ind("roc", length=P("roc_period"))
_roc_ma = Ind("sma", _roc, length=P("ma_period"))
strategy(
    "ROC_MA_CROSSOVER", "momentum",
    "Rate of change crosses above its moving average to buy, below to sell.",
    [_int("roc_period", 5, 30, 12, "ROC period"), _int("ma_period", 3, 30, 9, "SMA of ROC")],
    entry=crosses_above(_roc, _roc_ma), exit=crosses_below(_roc, _roc_ma),
)

_rsi = Ind("rsi", length=P("rsi_period"))
_rsi_ema = Ind("ema", _rsi, length=P("ema_period"))
strategy(
    "RSI_EMA_CROSSOVER", "momentum",
    "RSI crosses above its EMA to buy, below to sell.",
    [_int("rsi_period", 7, 21, 14, "RSI period"), _int("ema_period", 5, 20, 9, "EMA of RSI")],
    entry=crosses_above(_rsi, _rsi_ema), exit=crosses_below(_rsi, _rsi_ema),
)

_rvgi = Ind("rvgi", length=P("period"), swma_length=4)
strategy(
    "RVI", "momentum",
    "Relative Vigor Index (close-minus-open against high-minus-low, symmetric-weighted) crosses "
    "above its signal line to buy, below to sell.",
    [_int("period", 5, 30, 10, "RVI period")],
    entry=crosses_above(_rvgi["RVGI"], _rvgi["RVGIs"]), exit=crosses_below(_rvgi["RVGI"], _rvgi["RVGIs"]),
)

_psar2 = Ind("psar", af0=P("af_step"), af=P("af_step"), max_af=P("max_af"))
_mfi3 = Ind("mfi", length=P("mfi_period"))
strategy(
    "SAR_MFI", "trend",
    "Parabolic SAR flips to an uptrend while the money flow index is above mfi_threshold (money "
    "flowing in); sell when the SAR flips back.",
    [_float("af_step", 0.01, 0.05, 0.02, "acceleration factor start and step"),
     _float("max_af", 0.1, 0.5, 0.2, "maximum acceleration factor"),
     _int("mfi_period", 7, 28, 14, "MFI period"),
     _float("mfi_threshold", 30, 70, 50, "minimum MFI to buy")],
    entry=crosses_above(_psar2["PSARdir"], 0) & (_mfi3 > P("mfi_threshold")),
    exit=crosses_below(_psar2["PSARdir"], 0),
    constraints=(_lt("af_step", "max_af"),),
)

_sma_x = Ind("sma", length=P("sma_period"))
_ema_x = Ind("ema", length=P("ema_period"))
strategy(
    "SMA_EMA_CROSSOVER", "trend",
    "The EMA (reacts faster) crosses above the SMA to buy, below to sell.",
    [_int("sma_period", 5, 100, 20, "SMA period"), _int("ema_period", 5, 100, 20, "EMA period")],
    entry=crosses_above(_ema_x, _sma_x), exit=crosses_below(_ema_x, _sma_x),
)

_rsi2 = Ind("rsi", length=P("rsi_period"))
_sma_r = Ind("sma", length=P("ma_period"))
strategy(
    "SMA_RSI", "mean_reversion",
    "Buy oversold dips (RSI below oversold); sell when the close gets back above its SMA (the "
    "mean is reached) or RSI turns overbought.",
    [_int("ma_period", 10, 50, 20, "SMA period"), _int("rsi_period", 7, 21, 14, "RSI period"),
     _float("overbought", 70, 85, 70, "RSI sell level"), _float("oversold", 15, 30, 30, "RSI buy level")],
    entry=_rsi2 < P("oversold"),
    exit=(_rsi2 > P("overbought")) | crosses_above(CLOSE, _sma_r),
)

_stoch2 = Ind("stoch", k=P("k_period"), d=3, smooth_k=3)
_stoch_ema = Ind("ema", length=P("ema_period"))
strategy(
    "STOCHASTIC_EMA", "momentum",
    "In an uptrend (close above the EMA), buy when %K leaves the oversold zone; sell when %K falls "
    "out of the overbought zone or the close drops below the EMA.",
    [_int("k_period", 5, 21, 14, "%K look-back"), _int("ema_period", 20, 200, 50, "trend EMA"),
     _float("oversold", 10, 40, 20, "%K buy zone"), _float("overbought", 60, 90, 80, "%K sell zone")],
    entry=crosses_above(_stoch2["STOCHk"], P("oversold")) & (CLOSE > _stoch_ema),
    exit=crosses_below(_stoch2["STOCHk"], P("overbought")) | crosses_below(CLOSE, _stoch_ema),
    constraints=(_lt("oversold", "overbought"),),
)

_srsi = Ind("stochrsi", length=P("stoch_period"), rsi_length=P("rsi_period"), k=3, d=3)
strategy(
    "STOCHASTIC_RSI", "momentum",
    "Stochastic RSI: buy when %K crosses above %D below the oversold level; sell when %K crosses "
    "below %D above the overbought level.",
    [_int("stoch_period", 7, 21, 14, "stochastic look-back over RSI"), _int("rsi_period", 7, 21, 14, "RSI period"),
     _float("oversold", 5, 40, 20, "buy zone"), _float("overbought", 60, 95, 80, "sell zone")],
    entry=crosses_above(_srsi["STOCHRSIk"], _srsi["STOCHRSId"]) & (_srsi["STOCHRSIk"] < P("oversold")),
    exit=crosses_below(_srsi["STOCHRSIk"], _srsi["STOCHRSId"]) & (_srsi["STOCHRSIk"] > P("overbought")),
    constraints=(_lt("oversold", "overbought"),),
)

_ticks = TRADE_COUNT > Ind("sma", TRADE_COUNT, length=P("period")) * P("multiplier")
strategy(
    "TICK_VOLUME_ANALYSIS", "volume",
    "Tick volume (trades per candle) surges above multiplier x its average: buy on a bullish "
    "candle, sell on a bearish one. Needs the trade_count column.",
    [_int("period", 10, 100, 20, "average tick volume period"),
     _float("multiplier", 1.2, 5.0, 2.0, "surge factor")],
    entry=_ticks & (CLOSE > OPEN), exit=_ticks & (CLOSE < OPEN),
)

_t_short = Ind("ema", length=P("short_period"))
_t_medium = Ind("ema", length=P("medium_period"))
_t_long = Ind("ema", length=P("long_period"))
strategy(
    "TRIPLE_EMA_CROSSOVER", "trend",
    "Short EMA crosses above the medium EMA while the medium is above the long EMA; sell when "
    "the short EMA crosses back below the medium.",
    [_int("short_period", 3, 15, 5, "short EMA"), _int("medium_period", 8, 40, 13, "medium EMA"),
     _int("long_period", 20, 100, 34, "long EMA")],
    entry=crosses_above(_t_short, _t_medium) & (_t_medium > _t_long),
    exit=crosses_below(_t_short, _t_medium),
    constraints=(_lt("short_period", "medium_period"), _lt("medium_period", "long_period")),
)

_trix = Ind("trix", length=P("length"), signal=P("signal"))
strategy(
    "TRIX_SIGNAL_LINE", "momentum",
    "TRIX (rate of change of a triple EMA) crosses above its signal line to buy, below to sell.",
    [_int("length", 10, 40, 18, "triple EMA period"), _int("signal", 5, 15, 9, "signal SMA")],
    entry=crosses_above(_trix["TRIX"], _trix["TRIXs"]), exit=crosses_below(_trix["TRIX"], _trix["TRIXs"]),
    constraints=(_lt("signal", "length"),),
)

_kama = Ind("kama", length=P("er_period"), fast=P("fast"), slow=P("slow"))
strategy(
    "VARIABLE_PERIOD_EMA", "trend",
    "Kaufman's adaptive moving average, an EMA whose period moves between `fast` and `slow` with "
    "the efficiency ratio: buy when the close crosses above it, sell when it crosses below.",
    [_int("er_period", 5, 30, 10, "efficiency-ratio period"), _int("fast", 2, 5, 2, "fastest EMA period"),
     _int("slow", 10, 30, 20, "slowest EMA period")],
    entry=crosses_above(CLOSE, _kama), exit=crosses_below(CLOSE, _kama),
    constraints=(_lt("fast", "slow"),),
)

_vstop = Ind("atrts", length=P("atr_period"), ma_length=P("ma_period"), k=P("multiplier"))
strategy(
    "VOLATILITY_STOP", "volatility",
    "ATR trailing stop (pandas-ta atrts): while the close is above its EMA the stop ratchets up "
    "towards close - multiplier x ATR, while below it ratchets down towards close + multiplier x "
    "ATR; it never moves against the trend, so after a flip it holds its level until price clears "
    "it. Buy when the close crosses above the stop, sell when it crosses below.",
    [_int("atr_period", 7, 30, 14, "ATR period"), _int("ma_period", 10, 50, 20, "trend EMA"),
     _float("multiplier", 1.0, 5.0, 3.0, "stop distance in ATRs")],
    entry=crosses_above(CLOSE, _vstop), exit=crosses_below(CLOSE, _vstop),
)

_vb = Ind("donchian", lower_length=P("exit_period"), upper_length=P("period"))
strategy(
    "VOLUME_BREAKOUT", "breakout",
    "Breakout on volume: the close exceeds the previous `period`-bar high on volume above "
    "volume_multiplier x its average; sell when the close falls below the exit_period-bar low.",
    [_int("period", 10, 100, 20, "breakout and volume-average period"),
     _int("exit_period", 5, 50, 10, "exit channel"),
     _float("volume_multiplier", 1.0, 5.0, 1.5, "volume surge factor")],
    entry=(CLOSE > _vb["DCU"].prev()) & (VOLUME > Ind("sma", VOLUME, length=P("period")) * P("volume_multiplier")),
    exit=CLOSE < _vb["DCL"].prev(),
    constraints=(Constraint("exit_period", "<=", "period"),),
)

_vp = Ind("volume_profile", window=P("window"), bins=P("bins"), value_area=P("value_area"))
strategy(
    "VOLUME_PROFILE", "volume",
    "Rolling volume profile: buy when the close breaks above the value area high (acceptance of "
    "higher prices); sell when it falls back below the point of control.",
    [_int("window", 60, 600, 240, "candles in the profile"), _int("bins", 10, 60, 24, "price bins"),
     _float("value_area", 0.5, 0.9, 0.7, "share of volume in the value area")],
    entry=crosses_above(CLOSE, _vp["VP_vah"]), exit=crosses_below(CLOSE, _vp["VP_poc"]),
)

_tp = Ind("hlc3")
_vw_mean = Ind("vwma", _tp, VOLUME, length=P("period"))
_vw_sd = Sqrt(Ind("vwma", _tp * _tp, VOLUME, length=P("period")) - _vw_mean * _vw_mean)
strategy(
    "VOLUME_PROFILE_DEVIATIONS", "mean_reversion",
    "Bands at +-deviations standard deviations of the volume-at-price distribution around its "
    "mean (the rolling VWAP): buy when the close climbs back above the lower band; sell at the "
    "mean or when the close falls to twice the band distance.",
    [_int("period", 20, 300, 60, "candles in the distribution"),
     _float("deviations", 1.0, 3.0, 2.0, "band distance in standard deviations")],
    entry=crosses_above(CLOSE, _vw_mean - _vw_sd * P("deviations")),
    exit=crosses_above(CLOSE, _vw_mean) | crosses_below(CLOSE, _vw_mean - _vw_sd * (P("deviations") * 2)),
)

_spread = HIGH - LOW
_effort = (VOLUME > Ind("sma", VOLUME, length=P("period")) * P("volume_multiplier")) \
    & (_spread > Ind("sma", _spread, length=P("period")))
strategy(
    "VOLUME_SPREAD_ANALYSIS", "volume",
    "Volume spread analysis: a wide-spread, high-volume candle closing in its upper part shows "
    "demand (buy); one closing in its lower part shows supply (sell).",
    [_int("period", 10, 100, 20, "average volume and spread period"),
     _float("volume_multiplier", 1.0, 4.0, 1.5, "high-volume factor"),
     _float("close_position", 0.55, 0.9, 0.7, "close location within the candle's range")],
    entry=_effort & (CLOSE - LOW > _spread * P("close_position")),
    exit=_effort & (CLOSE - LOW < _spread * (1 - P("close_position"))),
)

_vw_line = Ind("vwma", length=P("fast")) - Ind("vwma", length=P("slow"))
_vw_signal = Ind("ema", _vw_line, length=P("signal"))
strategy(
    "VOLUME_WEIGHTED_MACD", "volume",
    "MACD built from volume-weighted moving averages crosses above its EMA signal line to buy, "
    "below to sell.",
    [_int("fast", 5, 20, 12, "fast VWMA"), _int("slow", 20, 50, 26, "slow VWMA"),
     _int("signal", 5, 15, 9, "signal EMA")],
    entry=crosses_above(_vw_line, _vw_signal), exit=crosses_below(_vw_line, _vw_signal),
    constraints=(_lt("fast", "slow"),),
)

_vpt = Ind("pvt")
strategy(
    "VPT", "volume",
    "Volume price trend breakout: buy when VPT makes a new `period`-bar high with the close above "
    "its SMA (volume confirms the rise); sell when VPT makes a new `period`-bar low.",
    [_int("period", 10, 100, 20, "breakout and SMA period")],
    entry=(_vpt > highest(_vpt, P("period")).prev()) & (CLOSE > Ind("sma", length=P("period"))),
    exit=_vpt < lowest(_vpt, P("period")).prev(),
)

_vwap = Ind("vwma", _tp, VOLUME, length=P("period"))
strategy(
    "VWAP_CROSSOVER", "volume",
    "Close crosses above the rolling VWAP (volume-weighted typical price over `period` bars) to "
    "buy, below to sell.",
    [_int("period", 10, 240, 60, "VWAP window")],
    entry=crosses_above(CLOSE, _vwap), exit=crosses_below(CLOSE, _vwap),
)

strategy(
    "VWAP_MEAN_REVERSION", "mean_reversion",
    "Buy when the close is more than deviation_pct percent below the rolling VWAP; sell when it "
    "crosses back above the VWAP.",
    [_int("period", 20, 240, 60, "VWAP window"),
     _float("deviation_pct", 0.05, 3.0, 0.3, "discount to VWAP in percent")],
    entry=CLOSE < _vwap * (1 - P("deviation_pct") / 100), exit=crosses_above(CLOSE, _vwap),
)
