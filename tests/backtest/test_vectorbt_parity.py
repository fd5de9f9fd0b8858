"""Parity with vectorbt's Portfolio.from_signals (fills at close, fees both sides, all cash in, long-only).

Expected values come from vectorbt 1.2 itself, stored by regenerate_vectorbt_fixture.py
(run in vectorbt's own venv; see that script). Same trades, same total return to 1e-9.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradestream.backtest import BacktestConfig, run_backtest

FIXTURE = Path(__file__).with_name("fixtures") / "vectorbt_parity.json"
CASES = json.loads(FIXTURE.read_text())["cases"]
RTOL = 1e-9


def _run(case: dict):
    close = np.array(case["close"])
    index = pd.date_range("2024-01-01", periods=len(close), freq="1min", tz="UTC")
    candles = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)
    entries = np.zeros(len(close), dtype=bool)
    exits = np.zeros(len(close), dtype=bool)
    entries[case["entries"]] = True
    exits[case["exits"]] = True
    config = BacktestConfig(cash=case["cash"], fees=case["fees"], slippage_bps=case["slippage"] * 10_000,
                            size=case["size"])
    return run_backtest(candles, entries, exits, config, timeframe="1m")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_same_trades_as_vectorbt(case: dict) -> None:
    run = _run(case)
    expected = case["expected"]["trades"]
    trades = run.trades
    assert len(trades) == len(expected) > 0 or (len(trades) == len(expected) == 0)
    assert trades["entry_bar"].tolist() == [t["entry_idx"] for t in expected]
    # vectorbt marks an open trade's exit at the last bar; TradeStream says -1 (still open).
    assert [(-1 if t["open"] else t["exit_idx"]) for t in expected] == trades["exit_bar"].tolist()
    for column, key in (("entry_price", "entry_price"), ("exit_price", "exit_price"), ("size", "size"),
                        ("entry_fees", "entry_fees"), ("exit_fees", "exit_fees"), ("pnl", "pnl"),
                        ("return", "return")):
        np.testing.assert_allclose(trades[column].to_numpy(), [t[key] for t in expected], rtol=RTOL, atol=1e-9,
                                   err_msg=column)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_same_total_return_and_ratios_as_vectorbt(case: dict) -> None:
    metrics = _run(case).metrics
    expected = case["expected"]
    assert metrics.final_equity == pytest.approx(expected["final_value"], rel=RTOL)
    assert metrics.total_return == pytest.approx(expected["total_return"], rel=RTOL, abs=1e-12)
    assert metrics.cagr == pytest.approx(expected["annualized_return"], rel=1e-7, abs=1e-12)
    assert metrics.sharpe == pytest.approx(expected["sharpe"], rel=RTOL)
    assert metrics.sortino == pytest.approx(expected["sortino"], rel=RTOL)
    assert metrics.volatility == pytest.approx(expected["annualized_volatility"], rel=RTOL)
    # vectorbt reports drawdowns as negative fractions.
    assert metrics.max_drawdown == pytest.approx(-expected["max_drawdown"], rel=RTOL)


def test_fixture_covers_open_trades_fees_slippage_and_fractional_sizing() -> None:
    """Guards the fixture itself: the parity claims above rest on these situations being in it."""
    assert any(t["open"] for c in CASES for t in c["expected"]["trades"])
    assert any(c["slippage"] > 0 for c in CASES)
    assert any(c["size"] < 1 for c in CASES)
    assert any(c["fees"] == 0 for c in CASES) and any(c["fees"] > 0 for c in CASES)
    assert sum(len(c["expected"]["trades"]) for c in CASES) > 500
