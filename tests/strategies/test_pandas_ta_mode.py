"""The product's indicator numbers do not depend on whether TA-Lib is installed.

pandas-ta hands EMA, RSI, ATR, STDEV, ... to TA-Lib whenever ``talib`` is importable,
and TA-Lib seeds and smooths differently. TA-Lib is a test dependency (the independent
reference of test_independent_signals.py), so ``indicators.py`` switches pandas-ta's
dispatch off. This test runs two fresh interpreters over the same candles, one with
TA-Lib importable and one with it hidden, and requires every series that any
strategy's rule reads to be bit-identical.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

PROBE = r"""
import sys
if sys.argv[2] == "hidden":
    sys.modules["talib"] = None  # import talib now raises ImportError, as on a machine without it
import numpy as np
from tradestream.strategies import IndicatorCache, list_strategies
from tradestream.strategies.expressions import EvalContext, Ind, iter_exprs
from tradestream.strategies.synthetic import synthetic_candles

candles = synthetic_candles(days=1)
values = {}
for spec in list_strategies():
    params = spec.space.defaults()
    ctx = EvalContext(candles, params, IndicatorCache(candles), spec.name)
    for cond in (spec.entry, spec.exit):
        for expr in iter_exprs(cond):
            if isinstance(expr, Ind):
                values[f"{spec.name}|{expr}"] = expr.evaluate(ctx).to_numpy(dtype="float64")
from importlib.util import find_spec
print("talib importable:", find_spec("talib") is not None)  # what pandas-ta's dispatch asks
np.savez(sys.argv[1], **values)
"""


def _indicator_values(tmp_path: Path, mode: str) -> tuple[dict[str, np.ndarray], str]:
    out = tmp_path / f"{mode}.npz"
    done = subprocess.run([sys.executable, "-c", PROBE, str(out), mode], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parents[2])
    with np.load(out) as data:
        return {k: data[k] for k in data.files}, done.stdout


def test_talib_is_installed_so_this_test_means_something() -> None:
    import talib  # a dev dependency (pyproject's dev extra); missing it must fail, not skip

    assert talib.EMA(np.arange(1.0, 6.0), 2)[-1] == 4.5


def test_every_strategy_indicator_is_bit_identical_with_and_without_talib(tmp_path: Path) -> None:
    with_talib, said = _indicator_values(tmp_path, "importable")
    assert "talib importable: True" in said  # pandas-ta did import it: its dispatch was live
    without_talib, said = _indicator_values(tmp_path, "hidden")
    assert "talib importable: False" in said
    assert with_talib.keys() == without_talib.keys() and len(with_talib) > 100
    differing = [k for k in with_talib if not np.array_equal(with_talib[k], without_talib[k], equal_nan=True)]
    assert not differing, f"{len(differing)} series change when TA-Lib is importable, e.g. {differing[:5]}"
