"""Every strategy's rule checked against an independent reference, on candles built for it.

For each of the 60 strategies a case builds candles on which the entry and the exit rule
fire at bars stated next to the case (bar numbers are 0-based rows of the case's
candles). Two tests per case:

* the reference (``reference_rules.py``: the rule restated from its documented definition
  over TA-Lib or a few lines of NumPy, no pandas-ta, no library code) fires exactly at the
  stated bars, so the case says what it claims;
* the library's ``StrategySpec.signals`` fires exactly at the stated bars and nowhere else,
  from the case's ``settle`` bar on.

``settle`` (150 bars unless said) is where both sides are warmed up: TA-Lib seeds
Wilder's smoothing, ADX and some EMAs of indicators differently from pandas-ta, and the
seed's weight has to fade before two correct implementations agree on a knife-edge bar
(``indicator_parity.py`` measures how long that takes). Signals before ``settle`` are
not compared; the look-back tests in test_signals.py cover those bars.

The four hand-written pattern indicators (Renko, range bars, double top/bottom, volume
profile) have no second implementation worth the name; their cases are worked out by
hand in the story instead.

Most cases share one market: ``cases.wave()``, 400 one-minute bars of a close swinging
+-4 % around 100 every 120 bars (troughs at bars 210 and 330, peaks at 150 and 270 ...
up to the 13-bar ripple riding on it), open = previous close, high/low 0.2 % beyond the
body, volume cycling every 23 bars.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from tests.strategies.cases import candles_from_close, path, ripple, wave
from tests.strategies.reference_rules import RULES
from tradestream.strategies import get_strategy, strategy_names


@dataclass(frozen=True)
class Case:
    strategy: str
    story: str
    candles: Callable[[], pd.DataFrame]
    entry: str  # bars, "163-167, 280" (ranges inclusive)
    exit: str
    params: dict[str, float] = field(default_factory=dict)
    settle: int = 150
    by_hand: bool = False  # no reference implementation: the story derives the bars


def bars(text: str) -> list[int]:
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        out += list(range(int(first), int(last or first) + 1))
    return out


def _wave_candles() -> pd.DataFrame:
    return candles_from_close(wave())


def _wave(strategy: str, story: str, *, entry: str, exit: str) -> Case:
    return Case(strategy, f"wave: {story}", _wave_candles, entry, exit)


# --------------------------------------------------------------------------- constructed markets

def _volatility_burst() -> pd.DataFrame:
    # 200 quiet bars, a 5 % drop over 6 bars and the same way back, then quiet again
    return candles_from_close(ripple(path((200, 100), (6, 95), (6, 100), (188, 100))))


def _swing_and_pullback() -> pd.DataFrame:
    # a slow drift down to 99 (the swing low at bar 149), a fast rally to 110 (bar 159), a pullback
    # to 102.5 (past the 61.8 % retracement, bar 174), a rally to 112 (bar 194), then flat
    return candles_from_close(ripple(path((150, 99), (10, 110), (15, 102.5), (20, 112), (40, 112)), 0.0005))


def _uptrend_with_dips() -> pd.DataFrame:
    # flat, then +12 % over 250 bars with a 0.8 % dip every 30 bars
    return candles_from_close(ripple(path((150, 100), (250, 112)), 0.008, 30))


def _gentle_uptrend() -> pd.DataFrame:
    return candles_from_close(ripple(path((150, 100), (250, 112)), 0.004, 30))


def _wave_with_step_up() -> pd.DataFrame:
    close = wave()
    close[300:] *= 1.03  # a 3 % jump at bar 300
    return candles_from_close(close)


def _wave_with_gaps() -> pd.DataFrame:
    close = wave()
    close[250:] *= 1.02
    close[330:] *= 0.98
    open_ = np.r_[close[0], close[:-1]]
    open_[250] = close[249] * 1.018  # gap up 1.8 %, then the bar closes 0.2 % above its open
    open_[330] = close[329] * 0.982  # gap down 1.8 %
    return candles_from_close(close, open_=open_)


def _wave_with_volume_spikes() -> pd.DataFrame:
    volume = np.full(400, 1000.0)
    volume[[222, 300]] = 5000.0  # bar 222 is a 20-bar high in an up-leg, bar 300 is not
    return candles_from_close(wave(), volume=volume)


def _wave_with_tick_surges() -> pd.DataFrame:
    trade_count = np.full(400, 100.0)
    trade_count[[222, 280, 300]] = 400.0  # bar 222 closes up, bars 280 and 300 close down
    return candles_from_close(wave(), trade_count=trade_count)


def _wave_with_effort_bars() -> pd.DataFrame:
    volume = np.full(400, 1000.0)
    volume[[250, 320]] = 4000.0
    frame = candles_from_close(wave(), volume=volume)
    close = frame["close"]
    # bar 250: opens 1 % down, trades 2 % under the close, closes at the top of a wide range
    frame.iloc[250, :4] = [close.iat[250] * 0.99, close.iat[250] * 1.001, close.iat[250] * 0.98, close.iat[250]]
    # bar 320: the mirror, closing at the bottom of a wide range
    frame.iloc[320, :4] = [close.iat[320] * 1.01, close.iat[320] * 1.02, close.iat[320] * 0.999, close.iat[320]]
    return frame


def _range_expansions() -> pd.DataFrame:
    # high-low range widening from 0.2 % to 3 % and back over 30 bars, twice (bars 200-229 and
    # 300-329), while the close falls (to bar 239) and then rises
    spread = np.full(400, 0.002)
    for start in (200, 300):
        spread[start:start + 15] = np.linspace(0.002, 0.03, 15)
        spread[start + 15:start + 30] = np.linspace(0.03, 0.002, 15)
    frame = candles_from_close(ripple(path((150, 100), (90, 95), (80, 105), (80, 105)), 0.001))
    body_high = np.maximum(frame["open"], frame["close"])
    body_low = np.minimum(frame["open"], frame["close"])
    frame["high"], frame["low"] = body_high * (1 + spread), body_low * (1 - spread)
    return frame


def _zigzag(volume_by_leg: bool = False) -> pd.DataFrame:
    # flat 150 bars, then straight 20-bar legs 100 -> 106 -> 100 ...: troughs at bars 189, 229, 269
    close = path((150, 100), (20, 106), (20, 100), (20, 106), (20, 100), (20, 106), (20, 100), (20, 106), (20, 100))
    if not volume_by_leg:
        return candles_from_close(close)
    # rising bars trade 3000, falling bars 500, except the rally out of the 229 trough (thin volume)
    volume = np.where(np.diff(close, prepend=close[0]) > 0, 3000.0, 500.0)
    volume[225:235] = 500.0
    return candles_from_close(close, volume=volume)


BRICK = 1.0025  # RENKO_CHART's default brick of 0.25 %


def _renko_steps() -> pd.DataFrame:
    # closes on the brick grid: level k is BRICK ** k
    level = np.full(320, 0.5)
    level[250:260], level[260:270], level[270:] = 2.3, 3.1, 0.9
    return candles_from_close(BRICK ** level)


def _range_bar_steps() -> pd.DataFrame:
    close = np.full(300, 100.0)
    close[250:254] = [100.2, 100.35, 100.7, 100.35]
    close[254:] = 100.35
    return candles_from_close(close, spread=0.0)


def _double_bottom_then_top() -> pd.DataFrame:
    # lows at bars 199 and 229 (both 95), peak 98 between them at bar 214; highs at bars 249 and
    # 269 (both 100), trough 97 between them at bar 259; then down to 96 by bar 289
    return candles_from_close(path((150, 100), (50, 95), (15, 98), (15, 95), (20, 100), (10, 97), (10, 100),
                                   (20, 96), start=90.0))


def _tight_range_then_breakout() -> pd.DataFrame:
    close = 100 + 0.05 * np.sin(np.arange(320) * 2.1)
    close[100], close[101] = 102.0, 98.0  # two thin-volume bars stretch the profile's range to ~98-102
    close[260:280], close[280:] = 101.0, 99.5
    volume = np.full(320, 1000.0)
    volume[[100, 101]] = 10.0
    return candles_from_close(close, volume=volume, spread=0.0005)


CASES: list[Case] = [
    _wave("ADX_DMI",
          "+DI crosses above -DI on each up-leg once ADX(14) > 20; -DI takes over after each peak",
          entry="222, 340",
          exit="163, 281, 399"),
    _wave("ADX_STOCHASTIC",
          "%K(14,3,3) leaves 20 after each trough (ADX > 20 in the trending legs); falls out of 80 after each peak",
          entry="209, 327, 336",
          exit="150, 268, 386, 395"),
    _wave("AROON_MFI",
          "Aroon(25) up crosses above down on each up-leg with MFI(14) < 80; exits on the opposite cross and on "
          "the runs where MFI > 80",
          entry="223, 344",
          exit="164, 230-265, 283, 349-382"),
    _wave("ATR_TRAILING_STOP",
          "the close rallies through the short chandelier stop (22-bar low + 3 ATR) after each trough, falls "
          "through the long stop after each peak",
          entry="223, 274, 343, 346",
          exit="164, 284"),
    _wave("AWESOME_OSCILLATOR",
          "SMA5 - SMA34 of the median price crosses zero a quarter wave after each trough and peak",
          entry="224, 342",
          exit="164, 283"),
    _wave("BBAND_WILLIAMS_R",
          "close under the lower 20-bar 2-sigma band with %R(14) < -80 near each trough; close above the middle "
          "band (or %R > -20) over each upper half",
          entry="163-167, 280-284, 294-296, 399",
          exit="150-152, 155-159, 220-278, 338-396"),
    _wave("CHAIKIN_OSCILLATOR",
          "EMA3 - EMA10 of A/D crosses zero with the wave and with the 23-bar volume cycle",
          entry="156, 211, 220, 272, 329, 338",
          exit="152, 162, 214, 270, 279, 330, 396"),
    _wave("CMF_ZERO_LINE",
          "20-bar Chaikin money flow crosses zero a quarter wave after each trough and peak",
          entry="222, 339",
          exit="163, 280, 398"),
    _wave("CMO_MFI",
          "Chande's CMO(14) comes back over -50 after each trough with MFI(14) < 50; exits when CMO drops under 50"
          " or MFI > 80",
          entry="209, 332",
          exit="150, 230-265, 269, 349-382, 393"),
    _wave("DEMA_TEMA_CROSSOVER",
          "TEMA(10) crosses DEMA(20) near each turn and twice more on the ripple around it",
          entry="197, 206, 262, 315, 324, 377",
          exit="204, 256, 265, 319, 374, 383"),
    _wave("DONCHIAN_BREAKOUT",
          "the close beats the previous 20-bar high through each up-leg and breaks the previous 10-bar low through"
          " each down-leg",
          entry="222-224, 232-237, 245-250, 259-262, 340, 349-354, 362-367, 375-379",
          exit="162-165, 173-179, 186-192, 200-203, 280-282, 291-296, 303-309, 317-321"),
    _wave("DOUBLE_EMA_CROSSOVER",
          "EMA10 crosses above EMA30 after each trough, below after each peak",
          entry="226, 349",
          exit="167, 287"),
    _wave("DPO_CROSSOVER",
          "close minus the SMA20 of 11 bars ago crosses zero after each trough and peak",
          entry="221, 340",
          exit="162, 281"),
    _wave("ELDER_RAY_MA",
          "EMA13 rising with negative but rising bear power early in each up-leg; the mirror early in each "
          "down-leg",
          entry="155-159, 211-212, 220-221, 272-273, 338-339",
          exit="152-154, 161-162, 214-215, 279-280, 331, 396-398"),
    _wave("EMA_MACD",
          "MACD(12,26,9) crosses its signal; only the cross at 261 has the close above EMA50",
          entry="261",
          exit="204, 257, 266, 318, 384"),
    _wave("FRAMA",
          "the close crosses FRAMA(16, 50) of the median price near each turn and on the ripple",
          entry="158, 196, 208, 219, 273, 325, 338, 388",
          exit="160, 198, 215, 266, 279, 331, 384, 397"),
    _wave("GANN_SWING",
          "two higher highs and higher lows in a row through the up-legs, two lower ones through the down-legs",
          entry="156-158, 197, 208-211, 220-226, 231-252, 258-264, 273-276, 326-328, 337-343, 349-370, 374-381, "
                "389-393",
          exit="150-153, 161-168, 173-194, 200-205, 214-217, 255, 267-270, 279-285, 290-311, 316-323, 331-334, 346, "
               "384-386, 396-399"),
    _wave("HEIKEN_ASHI",
          "two bullish Heikin-Ashi candles in a row through the up-legs, two bearish ones through the down-legs",
          entry="157-159, 209-213, 220-265, 273-277, 326-329, 337-345, 348-383, 389-394",
          exit="150-155, 161-196, 199-207, 215-218, 267-271, 279-324, 331-335, 385-387, 396-399"),
    _wave("ICHIMOKU_CLOUD",
          "the close breaks above the cloud (spans plotted 25 bars ahead) with tenkan > kijun after each trough; "
          "falls under it or tenkan crosses below kijun after each peak",
          entry="238, 358",
          exit="163, 178, 286, 298"),
    _wave("KLINGER_VOLUME",
          "KVO(34,55) of direction-signed volume crosses its EMA13 signal",
          entry="158, 195, 310",
          exit="160, 252, 369"),
    _wave("KST_OSCILLATOR",
          "Pring's KST crosses its SMA9 signal once per half wave",
          entry="200, 320",
          exit="259, 381"),
    _wave("LINEAR_REGRESSION_CHANNELS",
          "the close climbs back over the 50-bar regression line - 2 sigma after each trough; exits at the line",
          entry="178, 297",
          exit="197, 260, 323"),
    _wave("MACD_CROSSOVER",
          "MACD(12,26) crosses its EMA9 signal after each turn (and on the ripple near the troughs)",
          entry="198, 206, 261, 317, 325",
          exit="204, 257, 266, 318, 384"),
    _wave("MOMENTUM_PINBALL",
          "RSI(3) of the one-bar ROC is below 30 on the falling half of every ripple, above 70 on the rising half",
          entry="150-151, 159-164, 172-177, 186-190, 199-202, 212-215, 225-228, 238-242, 250-255, 263-268, 276-281, "
                "289-294, 303-307, 316-319, 329-332, 342-345, 355-359, 368-372, 380-385, 393-398",
          exit="154-157, 167-170, 179-183, 192-196, 205-210, 218-223, 231-235, 244-248, 257-261, 271-274, 284-287, "
               "296-300, 309-313, 322-327, 335-340, 348-352, 361-365, 374-378, 388-391"),
    _wave("MOMENTUM_SMA_CROSSOVER",
          "the close crosses above SMA20 with positive 10-bar momentum once per wave; crosses below after each "
          "peak and on the ripple",
          entry="220",
          exit="153, 160, 279, 397"),
    _wave("OBV_EMA",
          "OBV crosses its EMA20 after each turn",
          entry="222, 271, 338",
          exit="163, 270, 280, 397"),
    _wave("PRICE_OSCILLATOR_SIGNAL",
          "PPO of SMA12/SMA26 crosses its EMA9 signal after each turn",
          entry="199, 317",
          exit="257, 376"),
    _wave("PVT",
          "price-volume trend crosses its SMA20 after each turn",
          entry="220, 337",
          exit="161, 279, 396"),
    _wave("RAINBOW_OSCILLATOR",
          "the close's distance from the mean of ten nested SMA2s, in percent of the 10-bar range, crosses +-5 on "
          "the ripple",
          entry="156, 208, 219, 230, 257, 272, 326, 337, 348, 389",
          exit="160, 199, 214, 267, 278, 289, 315, 330, 384, 395"),
    _wave("REGRESSION_CHANNEL",
          "a rising 50-bar regression line with the close breaking over line + 1.5 sigma in each up-leg; the close"
          " falls under the line after each peak",
          entry="232, 350",
          exit="257, 264, 382"),
    _wave("ROC_MA_CROSSOVER",
          "ROC12 crosses its SMA9 near each turn and on the ripple",
          entry="186, 196, 250, 303, 314, 366",
          exit="191, 244, 255, 307, 362, 372"),
    _wave("RSI_EMA_CROSSOVER",
          "RSI14 crosses its EMA9 near each turn and on the ripple",
          entry="196, 207, 218, 257, 275, 324, 335, 391",
          exit="200, 217, 255, 265, 277, 333, 383, 394"),
    _wave("RVI",
          "Ehlers' RVI(10) crosses its signal on every ripple",
          entry="159, 172, 184, 196, 208, 221, 235, 249, 262, 276, 289, 301, 313, 326, 338, 352, 365, 379, 393",
          exit="150, 163, 176, 190, 204, 217, 230, 242, 255, 267, 280, 293, 307, 321, 334, 347, 360, 372, 384, 397"),
    _wave("SMA_EMA_CROSSOVER",
          "EMA20 crosses above SMA20 after each trough, below after each peak",
          entry="198, 321",
          exit="258, 381"),
    _wave("SMA_RSI",
          "RSI14 under 30 through each down-leg; exits while RSI > 70 and when the close crosses above SMA20",
          entry="167-218, 291-336",
          exit="150-151, 155-159, 220, 231-277, 338, 350-395"),
    _wave("STOCHASTIC_RSI",
          "StochRSI %K crosses %D under 20 near the troughs, over 80 near the peaks",
          entry="154, 169, 195, 206, 271, 286, 312, 387",
          exit="212, 227, 253, 329, 344, 371, 382"),
    _wave("TRIX_SIGNAL_LINE",
          "TRIX(18) crosses its SMA9 signal once per half wave",
          entry="210, 328",
          exit="268, 387"),
    _wave("VARIABLE_PERIOD_EMA",
          "the close crosses KAMA(10, 2, 20) near each turn and on the ripple",
          entry="158, 208, 219, 273, 325, 337, 389",
          exit="160, 215, 266, 278, 331, 384, 396"),
    _wave("VOLATILITY_STOP",
          "the close crosses the ATR trailing stop (3 x ATR14 off the close, ratcheting with EMA20's side) after "
          "each turn",
          entry="224, 348",
          exit="165, 289"),
    _wave("VOLUME_PROFILE_DEVIATIONS",
          "the close climbs back over the 60-bar VWAP - 2 sigma after each trough; exits at the VWAP",
          entry="196, 315",
          exit="231, 350"),
    _wave("VOLUME_WEIGHTED_MACD",
          "VWMA12 - VWMA26 crosses its EMA9 after each turn",
          entry="197, 318",
          exit="258, 377"),
    _wave("VPT",
          "VPT makes new 20-bar highs (close over SMA20) through the up-legs and new lows through the down-legs",
          entry="222-226, 230-252, 257-264, 275-276, 339-343, 348-370, 373-381, 391-393",
          exit="163-168, 171-194, 199-205, 280-285, 289-311, 315-323, 333-334, 398-399"),
    _wave("VWAP_CROSSOVER",
          "the close crosses the 60-bar VWAP of the typical price after each turn",
          entry="231, 350",
          exit="170, 291"),
    _wave("VWAP_MEAN_REVERSION",
          "the close is more than 0.3 % under the 60-bar VWAP through each down-leg; exits when it crosses back "
          "over",
          entry="172-229, 292-349",
          exit="231, 350"),
    Case("ATR_CCI", "CCI(20) falls under -100 in the 5 % drop (bars 200-205) and crosses back over it "
         "at bar 208 while ATR14 is above its SMA20 (the drop widened the bars); exits whenever CCI "
         "crosses under +-100 on the ripple",
         _volatility_burst, entry="208",
         exit="153, 160, 166, 173, 179, 186, 192, 199-200, 231, 238, 244, 251, 257, 264, 270, 277, 283, 290, 296, "
              "303, 309, 316, 322, 329, 335, 342, 348, 355, 361, 368, 374, 381, 387, 394"),
    Case("FIBONACCI_RETRACEMENTS", "swing_period 60: the swing runs from 99 (bar 149) to 110 (bar 159); "
         "the pullback passes the 61.8 % retracement and the close climbs back over it at bar 176 with "
         "the high more recent than the low (Aroon up > down); exits at the 23.6 % level (bar 185). Bar 150, "
         "the rally's first bar, also crosses both levels of the tiny drift swing before it (entry and exit)",
         _swing_and_pullback, entry="150, 176", exit="150, 185",
         params={"swing_period": 60}),
    Case("STOCHASTIC_EMA", "each 30-bar dip pushes %K under 20; it crosses back over 20 with the close "
         "still above EMA50 (the trend keeps the EMA below)",
         _uptrend_with_dips, entry="174, 205, 235, 265, 295, 325, 355, 385",
         exit="164, 169, 194, 224, 254, 284, 314, 344, 374"),
    Case("TRIPLE_EMA_CROSSOVER", "in the uptrend the medium EMA13 is above EMA34; EMA5 crosses it on "
         "the dips", _gentle_uptrend, entry="352, 383", exit="351, 381"),
    Case("PIVOT", "the close crosses the 60-bar pivot P after each trough; at bar 300 it jumps 3 %, over "
         "R1 = 2P - L (exit) and over P (entry) on the same bar", _wave_with_step_up,
         entry="234, 300, 350", exit="300"),
    Case("PRICE_GAP", "bar 250 opens 1.8 % over the previous close (> 1.5 ATR14) and closes above its "
         "open (entry); bar 330 gaps down as far (exit), as do the close's crosses under EMA20 (162, 280, "
         "345, 398)",
         _wave_with_gaps, entry="250", exit="162, 280, 330, 345, 398"),
    Case("VOLUME_BREAKOUT", "bar 222 makes a new 20-bar high on 5x volume (entry; bar 300's spike is in a "
         "down-leg); exits while the close breaks the previous 10-bar low", _wave_with_volume_spikes,
         entry="222", exit="162-165, 173-179, 186-192, 200-203, 280-282, 291-296, 303-309, 317-321"),
    Case("TICK_VOLUME_ANALYSIS", "trade count 4x its average at bars 222 (an up candle: entry), 280 and 300 "
         "(down candles: exit)", _wave_with_tick_surges, entry="222",
         exit="280, 300"),
    Case("VOLUME_SPREAD_ANALYSIS", "bar 250: 4x volume, a 2 % range, closing at its top (demand, entry); "
         "bar 320 the mirror (supply, exit)", _wave_with_effort_bars, entry="250",
         exit="320"),
    Case("MASS_INDEX", "the range widening at bars 200-229 lifts the mass index over 27 and it falls back "
         "under 26.5 at bar 233 with the close under EMA9 (entry); the second widening ends at bar 333, one "
         "bar after the close dipped under EMA9 on the flat top (exit at 332), so it is an entry too; the "
         "ripple's later dips under EMA9 exit",
         _range_expansions, entry="233, 333", exit="332, 344, 357, 370, 383, 396"),
    Case("PARABOLIC_SAR", "straight 20-bar legs: Wilder's SAR flips below the price two bars after each "
         "trough and above it two bars after each peak. Legs without ripple keep the SAR clear of the "
         "previous bars' extremes, where pandas-ta's psar and Wilder's differ (docs/strategies.md)",
         _zigzag, entry="191, 231, 271", exit="171, 211, 251, 291", settle=160),
    Case("SAR_MFI", "the zigzag with rising bars on 6x the volume of falling ones: MFI7 > 50 when the SAR "
         "flips up at bars 191 and 271; the rally out of the 229 trough is thin, MFI < 50, no entry at 231",
         lambda: _zigzag(volume_by_leg=True), entry="191, 271", exit="171, 211, 251, 291",
         params={"mfi_period": 7}, settle=160),
    Case("RENKO_CHART", "closes on the 0.25 % brick grid (level k = 1.0025^k): level 0.5, inside brick "
         "[0, 1], for 250 bars; bar 250 jumps to 2.3, one full brick over the top: up brick [1, 2], run 1 "
         "(< confirm 2); bar 260 reaches 3.1: brick [2, 3], run 2: entry; bar 270 drops to 0.9, a full "
         "brick under the last brick's bottom (2): a down brick: exit. Every 240-bar window starts at "
         "level 0.5, so every bar sees the same bricks",
         _renko_steps, entry="260", exit="270", settle=0, by_hand=True),
    Case("RANGE_BARS", "no spread, flat at 100 for 250 bars: no range bar. Bar 250: 100.2 (range 0.2 < "
         "0.3 % of 100); bar 251: 100.35, range 0.35 >= 0.30: up bar 1, the next opens at 100.35; bar 252: "
         "100.7, range 0.35 >= 0.301: up bar 2 = confirm: entry; bar 253: back to 100.35, range 0.35: a down "
         "bar: exit", _range_bar_steps, entry="252", exit="253", settle=0, by_hand=True),
    Case("DOUBLE_TOP_BOTTOM", "pivot lows (3 bars each side) at bars 199 and 229 have the same low "
         "(95 x 0.998); the neckline is the high at bar 214 (98 x 1.002 = 98.196); the close, rising 0.25 a "
         "bar from 95 at bar 229, first exceeds it at bar 242 (97.95 at 241): entry. Pivot highs at 249 and "
         "269 (100 x 1.002), neckline the low at 259 (97 x 0.998 = 96.806); the close, falling 0.2 a bar "
         "from 100 at 269, first goes under it at bar 285 (96.8 < 96.806): exit. The close never goes under "
         "the pivot lows' support (94.81) or above a neckline anywhere else",
         _double_bottom_then_top, entry="242", exit="285", settle=0, by_hand=True),
    Case("VOLUME_PROFILE", "the 240-bar profile spans ~97.95-102.05 (bars 100-101), 24 bins of 0.171; all "
         "the volume of the tight 99.9-100.1 candles lies in bins 11-12, so the POC is the middle of one of "
         "them (99.92 or 100.09) and the value area high 100.17. The close jumps from <= 100.05 to 101 at bar "
         "260 (over the VAH: entry) and from 101 to 99.5 at bar 280 (under the POC: exit)",
         _tight_range_then_breakout, entry="260", exit="280", settle=0, by_hand=True),
]


def test_every_strategy_has_exactly_one_case() -> None:
    assert sorted(c.strategy for c in CASES) == sorted(strategy_names())


def test_every_case_has_an_entry_and_an_exit_and_a_reference_or_a_derivation() -> None:
    for case in CASES:
        assert bars(case.entry) and bars(case.exit), case.strategy
        assert case.by_hand or case.strategy in RULES, case.strategy


def _fired(entries: np.ndarray, exits: np.ndarray, settle: int) -> tuple[list[int], list[int]]:
    return ((np.flatnonzero(entries[settle:]) + settle).tolist(), (np.flatnonzero(exits[settle:]) + settle).tolist())


@pytest.mark.parametrize("case", [c for c in CASES if not c.by_hand], ids=lambda case: case.strategy)
def test_reference_fires_where_the_case_says(case: Case) -> None:
    candles = case.candles()
    params = get_strategy(case.strategy).validate_params(case.params)
    columns = {k: candles[k].to_numpy(dtype="float64") for k in candles.columns}
    entries, exits = RULES[case.strategy](columns, params)
    assert _fired(entries, exits, case.settle) == (bars(case.entry), bars(case.exit))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.strategy)
def test_strategy_fires_exactly_where_the_reference_does(case: Case) -> None:
    spec = get_strategy(case.strategy)
    entries, exits = spec.signals(case.candles(), case.params)
    fired = _fired(entries.to_numpy(), exits.to_numpy(), case.settle)
    assert fired[0] == bars(case.entry), f"{case.strategy} entry: {case.story}"
    assert fired[1] == bars(case.exit), f"{case.strategy} exit: {case.story}"
