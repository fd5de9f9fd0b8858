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


@pytest.fixture(scope="session")
def reference_python() -> str:
    """The python of the reference venv (vectorbt, vectorbt-rust, skfolio; benchmarks/vectorbt_env), built once
    and cached under ~/.cache/tradestream. A failed build fails the tests that need it: no skip."""
    import subprocess

    setup = Path(__file__).resolve().parents[2] / "benchmarks" / "vectorbt_env" / "setup.sh"
    built = subprocess.run([str(setup)], capture_output=True, text=True)
    assert built.returncode == 0, f"could not build the reference venv ({setup}):\n{built.stderr[-3000:]}"
    return built.stdout.strip().splitlines()[-1]
