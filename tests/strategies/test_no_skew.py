"""No skew: live, candle-by-candle evaluation gives exactly the BUY/SELL bars of a backtest.

The backtest side is ``trade_signals(*evaluate(name, month))`` over the whole synthetic month.
The live side is a live evaluator's ``on_candle``, fed one candle at a time: both of them,
``LiveEvaluator`` (the reference: pandas-ta over the stream's window) and
``IncrementalEvaluator`` (incremental indicators), through the same tests.

These tests share the proof:

* per strategy, sampled: the evaluator is seeded with exactly ``spec.window()`` candles (the
  smallest window it will ever work with) and the position the backtest holds at that point,
  then fed consecutive candles one by one around every kind of interesting bar: BUY bars,
  SELL bars, bars where the entry (or exit) condition holds but the position blocks it, and
  random bars. Every BUY/SELL emitted must be the backtest's, and none may be missing.
* continuous: one evaluator running several strategies from the stream's first candle,
  past the point where its window starts dropping old candles, must emit every signal
  of the backtest and nothing else (no seeding, shared indicator cache).
* margins: for every comparison in every rule, the compared quantity (left minus right) on
  a window of ``spec.window()`` candles equals the full-history value to 1e-9 of the price
  scale. Booleans rarely sit on a knife edge, so this catches a too-short window long before
  a sampled signal would.
* every bar, window path: each strategy on overlapping chunks of the month equals the month
  on every bar a window into a chunk (what the window path and seeding stand on).
* every bar, incremental path: one incremental evaluator runs all 60 strategies from the
  month's first candle to its last, candle by candle, with revisions of random bars (a
  different candle first, then the real one): it must emit every backtest signal and nothing
  else. (tests/strategies/test_incremental.py compares every indicator value and every rule
  bar by bar, with a spread of parameters.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradestream.strategies import IndicatorCache, get_strategy, strategy_names
from tradestream.strategies.config import ActiveEntry, ActiveStrategySet
from tradestream.strategies.expressions import Compare, Cond, Cross, EvalContext
from tradestream.strategies.incremental.evaluator import IncrementalEvaluator
from tradestream.strategies.live import LiveEvaluator
from tradestream.strategies.positions import positions_after, trade_signals

PAIR, TIMEFRAME = "BTC-USD", "1m"
SIGNAL_SAMPLES = 8  # BUY bars and SELL bars each
BLOCKED_SAMPLES = 3  # entry held while long / exit held while flat
RANDOM_SAMPLES = 6
SEGMENT = 3  # candles fed one by one per sample: the bar before, the bar, the bar after


def _row(frame: pd.DataFrame, i: int) -> dict[str, object]:
    return {"pair": PAIR, "timeframe": TIMEFRAME, "window_start": frame.index[i], **frame.iloc[i].to_dict()}


def _spread(bars: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` bars spread evenly over the month (not just the first ones)."""
    if bars.size <= count:
        return [int(b) for b in bars]
    return [int(bars[round(i * (bars.size - 1) / (count - 1))]) for i in range(count)]


@pytest.fixture(params=[LiveEvaluator, IncrementalEvaluator], ids=["window", "incremental"])
def Evaluator(request):  # noqa: N802 - a class
    return request.param


@pytest.mark.parametrize("name", strategy_names())
def test_live_evaluation_emits_exactly_the_backtest_signals(Evaluator, name, month, month_signals):
    spec = get_strategy(name)
    params = spec.space.defaults()
    window = spec.window(params)
    evaluated = month_signals[name]
    signals = evaluated.signals.to_numpy()
    held = positions_after(evaluated.entries, evaluated.exits).to_numpy()

    first = window + 2  # the earliest sample whose seeded history is a full window
    bars = np.arange(len(month))
    eligible = bars[first: len(month) - SEGMENT]
    rng = np.random.default_rng(sum(map(ord, name)))
    samples = set(_spread(eligible[signals[eligible] == 1], SIGNAL_SAMPLES))
    samples |= set(_spread(eligible[signals[eligible] == -1], SIGNAL_SAMPLES))
    blocked_entry = eligible[evaluated.entries.to_numpy()[eligible] & (held[eligible - 1] == 1)]
    blocked_exit = eligible[evaluated.exits.to_numpy()[eligible] & (held[eligible - 1] == 0)]
    samples |= set(_spread(blocked_entry, BLOCKED_SAMPLES)) | set(_spread(blocked_exit, BLOCKED_SAMPLES))
    samples |= {int(b) for b in rng.choice(eligible, RANDOM_SAMPLES, replace=False)}
    assert any(signals[b] == 1 for b in samples) and any(signals[b] == -1 for b in samples)

    entry = ActiveEntry(name, params, None, (TIMEFRAME,))
    mismatches = []
    for bar in sorted(samples):
        start = bar - 1  # feed [start, start + SEGMENT)
        live = Evaluator(ActiveStrategySet.of([entry]))
        live.seed(PAIR, TIMEFRAME, month.iloc[start - window: start], positions={entry.key: int(held[start - 1])})
        emitted = {}
        for i in range(start, start + SEGMENT):
            for signal in live.on_candle(_row(month, i)):
                emitted[i] = 1 if signal.type == "BUY" else -1
        expected = {i: int(signals[i]) for i in range(start, start + SEGMENT) if signals[i] != 0}
        if emitted != expected:
            mismatches.append((bar, emitted, expected))
    assert not mismatches, f"{name}: live differs from the backtest at {mismatches[:3]}"


CONTINUOUS = ["MACD_CROSSOVER", "PARABOLIC_SAR", "OBV_EMA", "RENKO_CHART"]


def test_continuous_live_run_from_the_first_candle_matches_the_backtest(Evaluator, month):
    """EMA recursion, SAR path state, a cumulative indicator and a windowed custom one, together."""
    active = ActiveStrategySet.of(ActiveEntry(n, get_strategy(n).space.defaults(), None, (TIMEFRAME,))
                                  for n in CONTINUOUS)
    stream_window = active.window_for(PAIR, TIMEFRAME)
    frame = month.iloc[: stream_window + 300]  # 300 candles after the window starts to truncate
    live = Evaluator(active)
    emitted: dict[str, dict[int, int]] = {n: {} for n in CONTINUOUS}
    for i in range(len(frame)):
        for signal in live.on_candle(_row(frame, i)):
            emitted[signal.strategy][i] = 1 if signal.type == "BUY" else -1
    for name in CONTINUOUS:
        expected_series = trade_signals(*get_strategy(name).signals(frame))
        expected = {i: int(v) for i, v in enumerate(expected_series) if v != 0}
        after_truncation = [i for i in expected if i >= stream_window]
        assert after_truncation, f"{name} has no signal after the window filled; the test would prove little"
        assert emitted[name] == expected, f"{name}: live {len(emitted[name])} signals, backtest {len(expected)}"


def _comparisons(cond: Cond) -> list[Compare | Cross]:
    found = [cond] if isinstance(cond, (Compare, Cross)) else []
    for sub in cond.conds():
        found += _comparisons(sub)
    return found


@pytest.mark.parametrize("name", strategy_names())
def test_rule_margins_on_the_live_window_equal_the_full_history(name, month, month_signals):
    """What every comparison in a rule compares (left minus right) is the same on the live window.

    This is the mechanism behind the test above, checked without the slack of a boolean:
    the window must be long enough that recursive indicators have forgotten where it starts.
    Differences are measured against the price scale (1e-9 of the close), because a rule
    on an EMA of price inherits the EMA's error in price units.
    """
    spec = get_strategy(name)
    params = spec.space.defaults()
    window = spec.window(params)
    signals = month_signals[name].signals.to_numpy()
    eligible = np.arange(window, len(month))
    rng = np.random.default_rng(sum(map(ord, name)) + 1)
    bars = set(_spread(eligible[signals[eligible] != 0], 5)) | {int(b) for b in rng.choice(eligible, 5, replace=False)}
    comparisons = _comparisons(spec.entry) + _comparisons(spec.exit)
    full_ctx = EvalContext(month, params, IndicatorCache(month), name)
    full = [(c.left.evaluate(full_ctx).to_numpy(), c.right.evaluate(full_ctx).to_numpy()) for c in comparisons]
    close = month["close"].to_numpy()
    for bar in sorted(bars):
        frame = month.iloc[bar - window + 1: bar + 1]
        ctx = EvalContext(frame, params, IndicatorCache(frame), name)
        for comparison, (left_full, right_full) in zip(comparisons, full, strict=True):
            left, right = comparison.left.evaluate(ctx).iat[-1], comparison.right.evaluate(ctx).iat[-1]
            margin_full = left_full[bar] - right_full[bar]
            scale = max(abs(left_full[bar]), abs(right_full[bar]), close[bar])
            assert abs((left - right) - margin_full) <= 1e-9 * scale, (
                f"{name} bar {bar}: {comparison} margin {left - right!r} on the window, {margin_full!r} in full")


CHUNK_VERIFIED_BARS = 8000  # bars each chunk checks beyond the longest window


@pytest.fixture(scope="module")
def chunk_mismatches(month, month_signals) -> tuple[dict[str, list[tuple[int, int]]], dict[str, np.ndarray]]:
    """Every strategy evaluated on overlapping chunks of the month, compared bar by bar with the month.

    A chunk starts at an arbitrary bar, as a live window does; on every bar at least
    ``spec.window()`` bars into the chunk, entry and exit must equal the full-month ones
    exactly. Chunks overlap by the longest window plus a random amount, so together they
    check every bar of the month after the first window, at many distances from a chunk
    start. Returns the mismatching (chunk start, bar) and the checked bars per strategy.
    """
    specs = {name: get_strategy(name) for name in strategy_names()}
    windows = {name: spec.window() for name, spec in specs.items()}
    longest = max(windows.values())
    length = longest + CHUNK_VERIFIED_BARS
    rng = np.random.default_rng(11)
    mismatches: dict[str, list[tuple[int, int]]] = {name: [] for name in specs}
    checked = {name: np.zeros(len(month), dtype=bool) for name in specs}
    start = 0
    while True:
        chunk = month.iloc[start: start + length]
        cache = IndicatorCache(chunk)
        for name, spec in specs.items():
            entries, exits = spec.signals(chunk, cache=cache)
            w = windows[name]
            full = month_signals[name]
            span = slice(start + w, start + len(chunk))
            bad = (entries.to_numpy()[w:] != full.entries.to_numpy()[span]) | \
                  (exits.to_numpy()[w:] != full.exits.to_numpy()[span])
            mismatches[name] += [(start, start + w + int(i)) for i in np.flatnonzero(bad)]
            checked[name][span] = True
        if start + length >= len(month):
            return mismatches, checked
        start += CHUNK_VERIFIED_BARS - int(rng.integers(0, longest // 2))


@pytest.mark.parametrize("name", strategy_names())
def test_every_bar_after_the_window_is_independent_of_where_the_history_starts(name, month, chunk_mismatches):
    """The property the live evaluator stands on, checked on every bar of the month.

    The sampled tests above feed the live evaluator; this one checks its premise
    everywhere: the signal at a bar is the same whether the history starts at the
    beginning of the month or only ``spec.window()`` bars earlier. It catches a window too
    short for a rare knife edge (a stochastic pinned at 0, tied with its own average).
    """
    mismatches, checked = chunk_mismatches
    window = get_strategy(name).window()
    unchecked = np.flatnonzero(~checked[name][window:]) + window
    assert unchecked.size == 0, f"{name}: bars {unchecked[:3]} were never checked"
    assert not mismatches[name], (
        f"{name}: {len(mismatches[name])} bar(s) differ from the full month when the history starts "
        f"spec.window()={window} bars earlier; first (chunk start, bar): {mismatches[name][:3]}")


def test_incremental_run_over_the_whole_month_with_revisions_emits_exactly_the_backtest_signals(month, month_signals):
    """Every strategy, every bar of the month, one candle at a time. At 400 random bars the
    candle first arrives slightly different (every price 1e-9 higher: every indicator state
    moves) and then as its final revision, which must roll the state back and give exactly
    the backtest's future. Signals are published once per bar, so the first version must
    signal what the backtest signals at that bar; the few bars where the shift tips a knife
    edge are left out of the revisions."""
    active = ActiveStrategySet.default(timeframes=(TIMEFRAME,))
    live = IncrementalEvaluator(active)
    rng = np.random.default_rng(5)
    revised = set(rng.choice(np.arange(100, len(month)), 400, replace=False).tolist())
    expected = {(name, i): int(v) for name, e in month_signals.items()
                for i, v in enumerate(e.signals.to_numpy()) if v != 0}
    emitted: dict[tuple[str, int], int] = {}
    skipped = 0
    for i in range(len(month)):
        candles = [_row(month, i)]
        if i in revised:
            moved = {k: v * (1 + 1e-9) if k in ("open", "high", "low", "close", "vwap") else v
                     for k, v in candles[0].items()}
            probe = IncrementalEvaluator(active)
            probe.import_state(live.export_state(candles=False))
            here = {(s.strategy, i): 1 if s.type == "BUY" else -1 for s in probe.on_candle(moved)}
            if here == {k: v for k, v in expected.items() if k[1] == i}:
                candles.insert(0, moved)
            else:
                skipped += 1
        for candle in candles:
            for signal in live.on_candle(candle):
                key = (signal.strategy, i)
                assert key not in emitted, f"{key} signalled twice"
                emitted[key] = 1 if signal.type == "BUY" else -1
    assert emitted == expected
    assert skipped < 40
