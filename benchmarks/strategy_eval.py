"""Per-candle cost of evaluating all 60 strategies, with the shared indicator cache and without.

This is what the live engine does on every candle of a (pair, timeframe):
``tradestream.strategies.live.evaluate_last_bar`` takes the window of recent candles (as
long as the longest window of the active set: 2,550 candles for the default set, set by
KAMA), evaluates each strategy on the last ``frame_bucket(window)`` candles and reads the
last bar. With the cache, strategies on the same frame share one ``IndicatorCache`` per
candle, so ``ema(close, 26)`` or ``psar`` is computed once; without it, each strategy
computes its own indicators. A third line shows the cost of evaluating every strategy on
the whole window (shared cache, no per-strategy frame sizes) for context.

Rounds alternate between the modes over consecutive candles of the synthetic month so
drift on a shared machine hits all of them; medians are reported.

    .venv/bin/python benchmarks/strategy_eval.py [--candles 8] [--rounds 3]

Prints milliseconds per candle, the ratio against the shared-cache baseline and how many
indicator computations each mode made per candle. All modes must agree on every signal.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tradestream.strategies.indicators as indicators  # noqa: E402
from tradestream.strategies import IndicatorCache, validate_candles  # noqa: E402
from tradestream.strategies.config import ActiveStrategySet  # noqa: E402
from tradestream.strategies.live import evaluate_last_bar  # noqa: E402
from tradestream.strategies.synthetic import synthetic_candles  # noqa: E402

_computations = 0
_compute = indicators.IndicatorDef.compute


def _counting_compute(self, inputs, kwargs):
    global _computations
    _computations += 1
    return _compute(self, inputs, kwargs)


indicators.IndicatorDef.compute = _counting_compute


def whole_window(frame, entries) -> dict[str, tuple[bool, bool]]:
    """Every strategy on the whole window with one shared cache (no per-strategy frame sizes)."""
    cache = IndicatorCache.for_validated(frame)
    out = {}
    for entry in entries:
        entries_s, exits_s = entry.spec.evaluate_frame(frame, entry.params, cache)
        out[entry.key] = (bool(entries_s.iat[-1]), bool(exits_s.iat[-1]))
    return out


MODES = {
    "shared cache (live)": lambda frame, entries: evaluate_last_bar(frame, entries, complete=False)[0],
    "no shared cache": lambda frame, entries: evaluate_last_bar(frame, entries, complete=False,
                                                                share_cache=False)[0],
    "whole window, shared": whole_window,
}


def main() -> int:
    global _computations
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=8, help="candles evaluated per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    active = ActiveStrategySet.default()
    window = active.window_for("BTC-USD", "1m")
    entries = active.for_stream("BTC-USD", "1m")
    month = synthetic_candles()
    print(f"{len(entries)} strategies, stream window {window} candles (longest window of the default set)")

    for mode in MODES.values():  # warm-up: numba compilation, first-call imports
        mode(validate_candles(month.iloc[:window]), entries)

    timings: dict[str, list[float]] = {name: [] for name in MODES}
    calls: dict[str, float] = {}
    start = window
    for _ in range(args.rounds):
        frames = [validate_candles(month.iloc[start + i - window: start + i]) for i in range(args.candles)]
        reference = None
        for name, mode in MODES.items():
            _computations = 0
            t0 = time.perf_counter()
            results = [mode(frame, entries) for frame in frames]
            timings[name].append((time.perf_counter() - t0) / args.candles * 1000)
            calls[name] = _computations / args.candles
            if reference is None:
                reference = results
            elif results != reference:
                print(f"ERROR: {name} disagrees with the live evaluation", file=sys.stderr)
                return 1
        start += args.candles

    base = statistics.median(timings["shared cache (live)"])
    for name in MODES:
        ms = statistics.median(timings[name])
        print(f"{name:22s}: {ms:8.1f} ms per candle  ratio {ms / base:5.2f}  "
              f"({calls[name]:.0f} indicator computations per candle)")
    unshared = statistics.median(timings["no shared cache"])
    print(f"the shared indicator cache makes per-candle evaluation {unshared / base:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
