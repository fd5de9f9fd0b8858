"""The hand-written indicators (where pandas-ta has nothing), each tested on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandas_ta as ta
import pytest

from tradestream.strategies import custom
from tradestream.strategies.indicators import _cci


def _candles(close: list[float], spread: float = 0.0, volume: list[float] | None = None) -> pd.DataFrame:
    close_arr = np.asarray(close, dtype=float)
    open_arr = np.r_[close_arr[0], close_arr[:-1]]
    index = pd.date_range("2024-01-01", periods=len(close_arr), freq="1min", tz="UTC")
    return pd.DataFrame({"open": open_arr, "high": np.maximum(open_arr, close_arr) + spread,
                         "low": np.minimum(open_arr, close_arr) - spread, "close": close_arr,
                         "volume": np.ones(len(close_arr)) if volume is None else np.asarray(volume, float)},
                        index=index)


# --------------------------------------------------------------------------- Renko

def _on_grid(levels: list[float], brick_pct: float = 1.0) -> pd.Series:
    """Closes at the given positions of the logarithmic brick grid (level k = (1 + brick)^k)."""
    return pd.Series([(1 + brick_pct / 100) ** level for level in levels])


def test_renko_forms_up_bricks_on_the_log_grid_and_reverses_only_after_two_bricks():
    # start in brick [463, 464]; 465.2 completes [464, 465]; 466.3 completes [465, 466];
    # 465.1 is back inside the last brick (no brick); 463.8 is a full brick below it (reversal)
    levels = [463.5, 465.2, 466.3, 465.1, 463.8]
    rows = [custom.renko(_on_grid(levels[: n + 1]), brick_pct=1.0, window=n + 1).iloc[-1] for n in range(1, 5)]
    assert [(r["RENKO_dir"], r["RENKO_new"], r["RENKO_run"]) for r in rows] == [
        (1, 1, 1), (1, 1, 2), (1, 0, 2), (-1, -1, 1)]


def test_renko_needs_two_bricks_to_reverse():
    row = custom.renko(_on_grid([463.5, 465.2, 464.2]), brick_pct=1.0, window=3).iloc[-1]
    assert (row["RENKO_dir"], row["RENKO_new"]) == (1, 0)  # one brick down from the top is not enough


def test_renko_counts_several_bricks_formed_by_one_big_move():
    last = custom.renko(_on_grid([463.5, 467.6]), brick_pct=1.0, window=2).iloc[-1]
    assert last["RENKO_new"] == 3 and last["RENKO_run"] == 3 and last["RENKO_dir"] == 1


# --------------------------------------------------------------------------- range bars

def test_range_bar_closes_when_the_range_reaches_its_size_and_the_next_opens_at_that_close():
    # open 100; ranges grow 0.1% per candle: the bar completes on the candle where high-low >= 0.5
    closes = [100.0, 100.2, 100.4, 100.6, 100.5, 100.3, 100.1, 99.9]
    frame = _candles(closes)
    out = custom.range_bars(frame.open, frame.high, frame.low, frame.close, range_pct=0.5, window=len(closes))
    # every row is the last bar of its own trailing window; look at the full-window row
    last = out.iloc[-1]
    assert last["RANGE_closed"] == -1  # 100.6 -> 99.9 is a 0.7 range down from the new bar's open
    up = custom.range_bars(frame.open[:4], frame.high[:4], frame.low[:4], frame.close[:4], range_pct=0.5,
                           window=4).iloc[-1]
    assert up["RANGE_closed"] == 1 and up["RANGE_run"] == 1


# --------------------------------------------------------------------------- double top / bottom

def _w_shape() -> list[float]:
    down = list(np.linspace(110, 100, 11))
    up = list(np.linspace(101, 105, 5))
    down2 = list(np.linspace(104, 100.05, 5))
    rise = list(np.linspace(101, 104.5, 5))
    return down + up + down2 + rise + [106.0]  # the last close breaks the 105 neckline


def test_double_bottom_completes_when_the_close_breaks_the_neckline():
    frame = _candles(_w_shape(), spread=0.01)
    out = custom.double_top_bottom(frame.high, frame.low, frame.close, window=len(frame), pivot=2,
                                   tolerance_pct=0.2)
    assert out["DBL_bottom"].iloc[-1] == 1.0
    assert out["DBL_top"].iloc[-1] == 0.0


def test_unequal_lows_are_not_a_double_bottom():
    shape = _w_shape()
    shape[18:21] = [103.0, 102.5, 102.0]  # the second low is 2% above the first
    frame = _candles(shape, spread=0.01)
    out = custom.double_top_bottom(frame.high, frame.low, frame.close, window=len(frame), pivot=2,
                                   tolerance_pct=0.2)
    assert out["DBL_bottom"].iloc[-1] == 0.0


def test_double_top_is_the_mirror_image():
    mirrored = [210.0 - c for c in _w_shape()]
    frame = _candles(mirrored, spread=0.01)
    out = custom.double_top_bottom(frame.high, frame.low, frame.close, window=len(frame), pivot=2,
                                   tolerance_pct=0.2)
    assert out["DBL_top"].iloc[-1] == 1.0 and out["DBL_bottom"].iloc[-1] == 0.0


# --------------------------------------------------------------------------- volume profile

def test_volume_profile_point_of_control_sits_where_volume_traded():
    closes = [100.0, 101.0, 102.0, 103.0, 104.0, 102.2, 102.3, 102.2]
    volume = [1, 1, 1, 1, 1, 50, 50, 50]
    frame = _candles(closes, volume=volume)
    out = custom.volume_profile(frame.high, frame.low, frame.volume, window=len(closes), bins=8).iloc[-1]
    assert 101.5 <= out["VP_poc"] <= 103.0
    assert out["VP_val"] <= out["VP_poc"] <= out["VP_vah"]
    assert out["VP_val"] >= 100.0 and out["VP_vah"] <= 104.0


# --------------------------------------------------------------------------- FRAMA

def test_frama_follows_a_straight_trend_closely_and_lags_in_noise():
    trend = _candles(list(np.linspace(100, 120, 200)))
    f = custom.frama(trend.high, trend.low, trend.close, length=16, slow=100)
    gap_trend = float((trend.close - f).abs().iloc[-50:].mean())
    rng = np.random.default_rng(1)
    noise = _candles(list(110 + rng.normal(0, 1, 200)))
    g = custom.frama(noise.high, noise.low, noise.close, length=16, slow=100)
    # in a straight line the dimension is 1, alpha is 1: FRAMA is the median price
    assert gap_trend < 0.2
    assert float(g.diff().abs().iloc[-50:].mean()) < float(noise.close.diff().abs().iloc[-50:].mean()) / 3


# --------------------------------------------------------------------------- windowed means exact

@pytest.mark.parametrize("kernel", ["renko", "range_bars", "double_top_bottom", "volume_profile"])
def test_windowed_indicators_depend_only_on_their_trailing_window(kernel, month):
    """The value at bar t computed over a month equals the one computed from the last `window` bars alone."""
    frame = month.iloc[:1500]
    window = 120
    calls = {
        "renko": lambda f: custom.renko(f.close, 0.2, window),
        "range_bars": lambda f: custom.range_bars(f.open, f.high, f.low, f.close, 0.3, window),
        "double_top_bottom": lambda f: custom.double_top_bottom(f.high, f.low, f.close, window, 3, 0.15),
        "volume_profile": lambda f: custom.volume_profile(f.high, f.low, f.volume, window, 24, 0.7),
    }
    full = calls[kernel](frame)
    for t in range(window - 1, len(frame), 97):
        alone = calls[kernel](frame.iloc[t - window + 1: t + 1]).iloc[-1]
        assert full.iloc[t].equals(alone), f"{kernel} at bar {t}"


def test_windowed_indicators_refuse_nonsense_parameters():
    s = pd.Series([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="brick_pct=0"):
        custom.renko(s, brick_pct=0)
    with pytest.raises(ValueError, match="window=5 is too short for pivot=3"):
        custom.double_top_bottom(s, s, s, window=5, pivot=3)
    with pytest.raises(ValueError, match="value_area=1.5"):
        custom.volume_profile(s, s, s, window=3, bins=4, value_area=1.5)


# --------------------------------------------------------------------------- CCI

def test_cci_uses_lamberts_formula_not_pandas_ta_0_4_71b0s_slip(month):
    frame = month.iloc[:500]
    tp = (frame.high + frame.low + frame.close) / 3
    mean = tp.rolling(20).mean()
    mad = tp.rolling(20).apply(lambda w: np.mean(np.abs(w - w.mean())), raw=True)
    textbook = (tp - mean) / (0.015 * mad)
    ours = _cci(frame.high, frame.low, frame.close, length=20)
    np.testing.assert_allclose(ours.iloc[19:], textbook.iloc[19:], rtol=1e-9)
    assert ours.abs().iloc[19:].median() < 300  # CCI lives around +-100
    assert not np.allclose(ta.cci(frame.high, frame.low, frame.close, length=20).iloc[19:], textbook.iloc[19:])
