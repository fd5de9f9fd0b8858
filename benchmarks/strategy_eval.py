"""Per-candle cost of evaluating all 60 strategies, with the shared indicator cache and without.

This is what the live engine does on every candle of a (pair, timeframe):
``tradestream.strategies.live.evaluate_last_bar`` takes the stream's window of recent
candles (as long as the longest window of the active set), evaluates each strategy on
its last ``frame_bucket(window)`` candles and reads the last bar.

- shared cache: one ``IndicatorCache`` per candle for all strategies, longest frame
  first, so each distinct indicator call (``ema(close, 26)``, ``psar`` ...) is computed
  once per candle and shorter frames read the last rows of it;
- no shared cache (baseline): every strategy computes its own indicators.

Both run on the same consecutive candles of the synthetic month, in ABBA order per
candle so drift on a shared machine hits both alike; medians are reported. Both must
produce the same signal on every candle, or the script fails.

    .venv/bin/python benchmarks/strategy_eval.py [--candles 24]

Prints milliseconds per candle for each mode, the ratio (baseline / shared) and the
indicator computations per candle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tradestream.strategies import IndicatorCache, validate_candles  # noqa: E402
from tradestream.strategies.config import ActiveStrategySet  # noqa: E402
from tradestream.strategies.live import evaluate_last_bar  # noqa: E402
from tradestream.strategies.synthetic import synthetic_candles  # noqa: E402

_computations = 0
_get_or_compute = IndicatorCache.get_or_compute


def _counting(self, key, compute):
    def counted():
        global _computations
        _computations += 1
        return compute()
    return _get_or_compute(self, key, counted)


IndicatorCache.get_or_compute = _counting

MODES = {
    "shared cache": lambda frame, entries: evaluate_last_bar(frame, entries, complete=False),
    "no shared cache": lambda frame, entries: evaluate_last_bar(frame, entries, complete=False, share_cache=False),
}


def main() -> int:
    global _computations
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candles", type=int, default=24, help="consecutive candles timed per mode")
    args = parser.parse_args()
    if args.candles < 2:
        parser.error(f"--candles {args.candles} is too few to time; use 2 or more")

    active = ActiveStrategySet.default()
    window = active.window_for("BTC-USD", "1m")
    entries = active.for_stream("BTC-USD", "1m")
    month = synthetic_candles()
    print(f"{len(entries)} strategies on one (pair, timeframe); stream window {window} candles "
          "(the longest window of the default set)")

    warm = validate_candles(month.iloc[:window])
    for mode in MODES.values():  # numba compilation and first-call imports stay out of the timings
        mode(warm, entries)

    timings: dict[str, list[float]] = {name: [] for name in MODES}
    computations: dict[str, list[int]] = {name: [] for name in MODES}
    order = list(MODES)
    for i in range(args.candles):
        frame = validate_candles(month.iloc[window + i: 2 * window + i])
        results = {}
        for name in order if i % 2 == 0 else reversed(order):
            _computations = 0
            t0 = time.perf_counter()
            results[name], failures = MODES[name](frame, entries)
            timings[name].append((time.perf_counter() - t0) * 1000)
            computations[name].append(_computations)
            if failures:
                print(f"ERROR: {name} failed on {sorted(failures)[:3]}", file=sys.stderr)
                return 1
        if results["shared cache"] != results["no shared cache"]:
            print(f"ERROR: the modes disagree on candle {frame.index[-1]}", file=sys.stderr)
            return 1

    shared = statistics.median(timings["shared cache"])
    unshared = statistics.median(timings["no shared cache"])
    for name, ms in (("shared cache", shared), ("no shared cache", unshared)):
        print(f"{name:16s}: {ms:7.1f} ms per candle  "
              f"({statistics.median(computations[name]):.0f} indicator computations per candle)")
    print(f"ratio (no shared cache / shared cache): {unshared / shared:.2f}x "
          f"over {args.candles} candles, medians")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
