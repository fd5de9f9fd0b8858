"""Which tests need a running service: the `services` marker, applied through fixtures.

A test needs a service when it talks to Kafka, Flink (a session cluster or Beam's embedded
one, both JVMs), the Dagster webserver or daemon, or runs the helm binary or Chromium. The
fixtures that start or reach one are declared with ``service_fixture`` instead of
``pytest.fixture``; every test that uses one, directly or through another fixture, is marked
``services`` at collection (see ``mark_service_tests``). A test that starts a service by
itself carries ``@pytest.mark.services``. ``e2e`` tests all run on services, so they are
marked too.

``pytest -m "not services"`` is therefore the selection that runs with nothing but Python;
``make test-unit`` runs it with java, mvn, helm, go and chromium hidden and Kafka pointed at
an unroutable address, so a test that needs a service and is not marked fails there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

SERVICE_FIXTURES: set[str] = set()


def service_fixture(function: Callable | None = None, **kwargs: Any) -> Callable:
    """``pytest.fixture`` for a fixture that starts or reaches a service: its users are marked ``services``."""

    def declare(fixture_function: Callable) -> Callable:
        SERVICE_FIXTURES.add(kwargs.get("name") or fixture_function.__name__)
        return pytest.fixture(**kwargs)(fixture_function)

    return declare(function) if function is not None else declare


def mark_service_tests(items: Iterable[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SERVICE_FIXTURES or item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.services)
