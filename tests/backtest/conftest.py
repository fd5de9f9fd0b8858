"""Fixtures of the backtest tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backtest.builders import CycleStrategy, WindowStrategy


@pytest.fixture
def window_strategy() -> WindowStrategy:
    return WindowStrategy()


@pytest.fixture
def cycle_strategy() -> CycleStrategy:
    return CycleStrategy()


@pytest.fixture
def studies(tmp_path: Path) -> Path:
    """A private directory for Optuna study journals."""
    return tmp_path / "optuna"
