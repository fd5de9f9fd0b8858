"""Session fixtures for everything that needs our chart: Dagster's chart, the prepared chart copy, helm.

Loaded for the whole session (tests/conftest.py ``pytest_plugins``) because the supervisor's
tests render the chart too. When Dagster's chart cannot be found, the first test that needs
it fails with the one line saying how to provide it and the others are skipped with a
pointer to it, instead of every one of them repeating the same error.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tests.helm.chart import DagsterChart, DagsterChartMissing, Helm, helm_binary, locate_dagster_chart, prepare_chart
from tests.services import service_fixture

_reported: list[str] = []


@cache
def _dagster_chart_or_error() -> Path | DagsterChartMissing:
    try:
        return locate_dagster_chart()
    except DagsterChartMissing as missing:
        return missing


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if "dagster_chart_source" not in getattr(item, "fixturenames", ()):
        return
    found = _dagster_chart_or_error()
    if isinstance(found, DagsterChartMissing):
        if not _reported:
            _reported.append(item.nodeid)
            pytest.fail(str(found), pytrace=False)
        pytest.skip(f"needs Dagster's Helm chart; see the error of {_reported[0]}")


@pytest.fixture(scope="session")
def dagster_chart_source() -> Path:
    """Dagster's chart as ``locate_dagster_chart`` finds it (setting, else helm/charts/, else the in-repo copy)."""
    found = _dagster_chart_or_error()
    if isinstance(found, DagsterChartMissing):
        raise found
    return found


@pytest.fixture(scope="session")
def chart_copy(tmp_path_factory, dagster_chart_source: Path) -> Path:
    """A copy of helm/ with Dagster's chart in charts/dagster, ready for `helm template`."""
    return prepare_chart(tmp_path_factory.mktemp("chart"), dagster_chart_source)


@pytest.fixture(scope="session")
def dagster_chart(chart_copy: Path) -> DagsterChart:
    return DagsterChart(chart_copy / "charts" / "dagster")


@service_fixture(scope="session")
def helm(chart_copy: Path) -> Helm:
    """The helm binary (built once, cached) on the prepared chart copy."""
    return Helm(helm_binary(), chart_copy)
