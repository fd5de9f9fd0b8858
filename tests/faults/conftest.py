"""Fault cases (marker ``faults``): each kills or starves a real component and counts what was
lost. They run with ``make faults`` (TRADESTREAM_FAULTS=1), not in ``make test``: they start
their own multi-broker clusters and take minutes (docs/reliability.md)."""

from __future__ import annotations

import os

import pytest

FAULTS_ON = os.environ.get("TRADESTREAM_FAULTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FAULTS_ON:
        return
    kept = [item for item in items if item.get_closest_marker("faults") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
