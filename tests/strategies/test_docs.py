"""docs/strategies.md carries the catalog generated from the declarations, up to date."""

from __future__ import annotations

from pathlib import Path

from tradestream.strategies.catalog import BEGIN, END, markdown_catalog

DOC = Path(__file__).resolve().parents[2] / "docs" / "strategies.md"


def test_documented_catalog_matches_the_declared_strategies():
    text = DOC.read_text()
    assert BEGIN in text and END in text
    documented = text[text.index(BEGIN): text.index(END) + len(END)] + "\n"
    assert documented == markdown_catalog(), (
        "docs/strategies.md is stale: regenerate the catalog with `python -m tradestream.strategies.catalog`")
