"""pandas-ta against TA-Lib on the synthetic month: every disagreement is explained, and
docs/strategies.md carries the current table (``python -m tests.strategies.indicator_parity``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.strategies.indicator_parity import BEGIN, END, ROWS, markdown_table, parity_rows

DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"


@pytest.fixture(scope="module")
def rows(month):
    return parity_rows(month)


def test_every_indicator_agrees_to_1e9_after_warmup_or_the_reason_is_documented(rows):
    unexplained = [r.indicator.name for r in rows if not r.agrees_after_warmup and not r.indicator.reason]
    assert not unexplained, f"differ from TA-Lib without a documented reason: {unexplained}"
    # and a documented reason is not left on an indicator that agrees (the note would be stale)
    stale = [r.indicator.name for r in rows if r.agrees_after_warmup and r.indicator.reason]
    assert not stale, f"agree with TA-Lib but carry a reason: {stale}"


def test_seeding_differences_fade_and_definition_differences_do_not(rows):
    by_name = {r.indicator.name: r for r in rows}
    for row in rows:
        if row.indicator.reason.startswith("seeding"):
            assert row.agrees_from is not None and row.agrees_from < 1000, row.indicator.name
    for name in ("stdev(20)", "cmo(14, talib=False)", "cci(20) [pandas-ta]", "trima(20)"):
        assert by_name[name].agrees_from is None, name
    # the indicators the strategies read with their TA-Lib twins agree from the first shared bar
    for name in ("sma(20)", "ema(20)", "cci(20) [indicators._cci]", "willr(14)", "stoch(14, 3, 3).STOCHk", "mfi(14)",
                 "linreg(14)", "aroon(25).AROONU", "mom(10)", "roc(10)"):
        assert by_name[name].agrees_after_warmup, name


def _cells(table: str) -> list[tuple[str, ...]]:
    """The table's rows without the measured difference column (last digits vary with the CPU's SIMD)."""
    out = []
    for line in table.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            verdict = "agree from bar" if cells[3].startswith("agree from bar") else cells[3]
            out.append((cells[0], cells[1], cells[2], verdict, cells[5]))
    return out


def test_docs_carry_the_current_parity_table(rows):
    text = DOC.read_text()
    assert BEGIN in text and END in text
    documented = text[text.index(BEGIN): text.index(END) + len(END)]
    assert _cells(documented) == _cells(markdown_table(rows)), (
        "docs/strategies.md's parity table is stale: regenerate it with `python -m tests.strategies.indicator_parity`")
    assert len(_cells(documented)) == len(ROWS)
