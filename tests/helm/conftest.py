"""Fixtures for the chart tests: renders memoized per set of values (helm, the chart copy and
Dagster's chart come from tests/helm/fixtures.py, shared with the supervisor's tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helm.chart import KUBE_VERSIONS, Helm

Manifests = list[dict[str, Any]]


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[..., Manifests]:
    """render(sets=[...], values={...}) -> manifests; identical renders are done once."""
    cache: dict[str, Manifests] = {}

    def _render(sets: list[str] | None = None, values: dict[str, Any] | None = None,
                kube_version: str = KUBE_VERSIONS[0]) -> Manifests:
        key = json.dumps([sets, values, kube_version], sort_keys=True)
        if key not in cache:
            cache[key] = helm.template(values=values, sets=sets, kube_version=kube_version)
        # callers may modify what they get
        return json.loads(json.dumps(cache[key]))

    return _render


@pytest.fixture(scope="session")
def default_manifests(render) -> Manifests:
    return render()


@pytest.fixture(scope="session")
def chart_dir(helm: Helm) -> Path:
    return helm.chart
