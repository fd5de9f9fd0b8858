"""``tradestream.execution.portfolio`` on a case worked by hand.

One allocation with 1,000 of cash buys 10 units at the close of the first bar (100) and sells them at
the close of the third (120); the closes are 100, 90, 120, 90. Marked at each close its equity is
1000 (0 cash + 10 x 100), 900, 1200 (sold: 1200 cash), 1200; the drawdown against the running peak is
0, -10 %, 0, 0. A second allocation of the account never trades: 500 throughout, so the account holds
1500, 1400, 1700, 1700 with a drawdown of -1400/1500 + 1 at the second close.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tradestream.execution.portfolio import ACCOUNT_TOTAL, allocation_curve, portfolio_curves, summary

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
MIN = pd.Timedelta(minutes=1)
CLOSES = pd.Series([100.0, 90.0, 120.0, 90.0], index=pd.DatetimeIndex([T0 + i * MIN for i in range(4)]))


def _snap(allocation: str, at: pd.Timestamp, units: float, cash: float, start: float) -> dict:
    return {"account": "a", "allocation_id": allocation, "currency_pair": "BTC-USD", "timeframe": "1m",
            "units": units, "cash": cash, "starting_cash": start, "as_of": at.tz_convert(None)}


POSITIONS = pd.DataFrame([
    _snap("a/x", T0 + MIN, 10.0, 0.0, 1000.0),           # bought at the first close
    _snap("a/x", T0 + 3 * MIN, 0.0, 1200.0, 1000.0),     # sold at the third close
    _snap("a/y", T0 - 60 * MIN, 0.0, 500.0, 500.0),      # a snapshot before the span: flat with 500
])


def test_an_allocation_is_marked_at_each_close_with_its_newest_snapshot():
    curve = allocation_curve(POSITIONS[POSITIONS["allocation_id"] == "a/x"], CLOSES, "1m")
    assert list(curve["time"]) == [T0 + (i + 1) * MIN for i in range(4)]
    assert list(curve["equity"]) == [1000.0, 900.0, 1200.0, 1200.0]
    assert list(curve["drawdown"]) == pytest.approx([0.0, -0.1, 0.0, 0.0])


def test_before_its_first_fill_an_allocation_holds_its_starting_cash():
    late = pd.DataFrame([_snap("a/x", T0 + 3 * MIN, 0.0, 1010.0, 1000.0)])
    assert list(allocation_curve(late, CLOSES, "1m")["equity"]) == [1000.0, 1000.0, 1010.0, 1010.0]


def test_the_account_is_the_sum_of_its_allocations_with_its_own_drawdown():
    curves = portfolio_curves(POSITIONS, lambda pair, timeframe: CLOSES)
    total = curves[curves["allocation_id"] == ACCOUNT_TOTAL]
    assert list(total["equity"]) == [1500.0, 1400.0, 1700.0, 1700.0]
    assert list(total["drawdown"]) == pytest.approx([0.0, 1400 / 1500 - 1, 0.0, 0.0])
    table = summary(curves).set_index("allocation")
    assert table.loc["a/x", "return"] == pytest.approx(0.2) and table.loc["a/x", "max_drawdown"] == pytest.approx(-0.1)
    assert table.loc[ACCOUNT_TOTAL, "equity"] == 1700.0


def test_no_positions_no_curves():
    assert portfolio_curves(POSITIONS.iloc[0:0], lambda pair, timeframe: CLOSES).empty
