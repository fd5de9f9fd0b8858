"""Fixtures for the Dagster platform's unit tests: a real broker, fresh topics, a real DuckDB file.

Each test gets its own topics (``<kind>-<uuid>``) so Kafka's time index (which assumes
timestamps grow along a partition) is never confused by another test's records, and
its own DuckDB file and stream home.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tradestream.settings import Settings
from tradestream_assets.resources import AlertsResource, DuckDBStore, ExchangeResource, KafkaResource, StreamSupervisor


@dataclass
class Topics:
    trades: str
    candles: str
    signals: str
    dlq: str


def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    for future in futures.values():
        future.result(30)


@pytest.fixture
def topics(kafka: Settings) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    t = Topics(f"trades-{suffix}", f"candles-{suffix}", f"signals-{suffix}", f"trades.dlq-{suffix}")
    create_topics(kafka.kafka.bootstrap, (t.trades, t.candles, t.signals, t.dlq))
    return t


@pytest.fixture
def bootstrap(kafka: Settings) -> str:
    return kafka.kafka.bootstrap


@pytest.fixture
def duckdb_path(tmp_path: Path) -> Path:
    return tmp_path / "tradestream.duckdb"


@pytest.fixture
def stream_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    yield home
    from streaming.supervisor.local import LocalProcessBackend

    LocalProcessBackend(home).stop_all()


@pytest.fixture
def resources(bootstrap: str, topics: Topics, duckdb_path: Path, stream_home: Path) -> dict:
    return {
        "kafka": KafkaResource(bootstrap_servers=bootstrap, trades_topic=topics.trades, candles_topic=topics.candles,
                               signals_topic=topics.signals, dlq_topic=topics.dlq),
        "duckdb": DuckDBStore(path=str(duckdb_path)),
        "exchange": ExchangeResource(products=["BTC-USD", "ETH-USD"]),
        "supervisor": StreamSupervisor(home=str(stream_home)),
        "alerts": AlertsResource(urls=[]),
    }


@pytest.fixture
def research_resources(duckdb_path: Path, stream_home: Path) -> dict:
    """What backtests and research need: the DuckDB file and the platform home (no broker)."""
    return {"duckdb": DuckDBStore(path=str(duckdb_path)), "supervisor": StreamSupervisor(home=str(stream_home))}


@pytest.fixture
def hour() -> datetime:
    """An hourly partition inside the partitions definition: yesterday 10:00 UTC."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)


def partition_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d-%H:%M")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst
