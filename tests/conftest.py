"""Shared fixtures: real services, started once per test session.

Fixtures that start or reach a service are declared with ``service_fixture``: the tests that
use them are marked ``services`` (tests/services.py), so ``pytest -m "not services"`` runs
without any.

Tests default to their own ports (Kafka 19092/19093, Flink REST 18081) so a running
`make run` (9092, 8081) is never disturbed; set the TRADESTREAM_* variables to move them.
The variables are set in os.environ so child processes started by tests inherit them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TRADESTREAM_KAFKA_PORT", "19092")
os.environ.setdefault("TRADESTREAM_KAFKA_CONTROLLER_PORT", "19093")
os.environ.setdefault("TRADESTREAM_FLINK_REST_PORT", "18081")
os.environ.setdefault("TRADESTREAM_FLINK_JOB_SERVER_PORT", "18099")

from streaming.kafka.topics import ensure_topics  # noqa: E402
from tests.services import mark_service_tests, service_fixture  # noqa: E402
from tradestream.runtime.flink import FlinkAlreadyRunning, FlinkSession  # noqa: E402
from tradestream.runtime.kafka import AlreadyRunning, LocalKafka  # noqa: E402
from tradestream.settings import PathSettings, Settings  # noqa: E402

ARTIFACTS = Path(os.environ.get("TRADESTREAM_TEST_ARTIFACTS", "test-artifacts"))

# helm and Dagster's chart, for the chart's tests and the supervisor's
pytest_plugins = ("tests.helm.fixtures",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_service_tests(items)


def make_settings(home: Path, **sections) -> Settings:
    """Settings from the environment with the runtime home moved to ``home``."""
    return Settings(paths=PathSettings(home=home), **sections)


@pytest.fixture(scope="session")
def runtime_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("tradestream-home")
    os.environ["TRADESTREAM_HOME"] = str(home)
    return home


@pytest.fixture
def settings(runtime_home: Path) -> Settings:
    return make_settings(runtime_home)


@service_fixture(scope="session")
def kafka(runtime_home: Path) -> Iterator[Settings]:
    """A real single-node KRaft broker with the platform's topics; yields its Settings."""
    s = make_settings(runtime_home)
    broker = LocalKafka(s)
    started_here = True
    try:
        broker.start()
    except AlreadyRunning:
        started_here = False
    ensure_topics(s)
    yield s
    if started_here:
        broker.stop()


@service_fixture(scope="session")
def flink_session(runtime_home: Path) -> Iterator[FlinkSession]:
    """A real Flink session cluster (JobManager + TaskManager processes)."""
    session = FlinkSession(make_settings(runtime_home))
    started_here = True
    try:
        session.start()
    except FlinkAlreadyRunning:
        started_here = False
    yield session
    if started_here:
        session.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS.resolve()
