"""The whole platform, as `make run` starts it (`tradestream up --mode dry`), on the test broker.

Everything of this run is private: its own Dagster home, TradeStream home, DuckDB file,
topics (``e2e-<id>-trades`` ...) and a free port for the UI, so nothing collides with a
developer's `make run` or other tests. Before the platform starts, three past hours of
trades are published with their event times as record times (what a replay of recorded
trades looks like to Kafka), for the backfill test, and a synthetic candle history is put
in DuckDB for the backtest launched from the UI.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from tests.assets.conftest import create_topics
from tests.assets.records import produce, trade
from tests.assets.research_data import seed_candles
from tests.services import service_fixture
from tests.venues.coinbase.exchange_rest import ExchangeRestStandIn, generate_product
from tradestream.settings import Settings

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT_S = 300
BACKTEST_DAY = pd.Timestamp("2026-11-20", tz="UTC")
HISTORIC_PAIRS = ("BTC-USD", "ETH-USD")


@dataclass
class Platform:
    url: str
    env: dict[str, str]
    dagster_home: Path
    home: Path
    duckdb: Path
    proc: subprocess.Popen
    log: Path
    ready_at: float
    historic_hours: list[datetime]
    historic_trades_per_hour: int
    topics: dict[str, str] = field(default_factory=dict)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.dagster_home))

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).parent / args[0]), *args[1:]], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except OSError:
        return False


def _publish_history(bootstrap: str, topic: str, hours: list[datetime], per_minute: int) -> int:
    records = []
    n = 0
    for hour in hours:
        for minute in range(60):
            for k in range(per_minute):
                for i, pair in enumerate(HISTORIC_PAIRS):
                    at = hour + timedelta(minutes=minute, seconds=3 + 11 * k + i)
                    n += 1
                    records.append((pair, trade(pair, f"h{n}", 100.0 * (i + 1) + minute / 10, 0.5, at), at))
    produce(bootstrap, topic, records)
    return 60 * per_minute * len(HISTORIC_PAIRS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stopping the platform (Ctrl-C) is what the last test on it checks: run it right after the
    other tests that use the platform, not at the end of the session (this hook sees every item
    of the session), so its streams do not load the machine while the rest of the suite runs."""
    shutdown = [i for i in items if "test_shutdown" in i.nodeid and "platform" in getattr(i, "fixturenames", ())]
    if not shutdown:
        return
    rest = [i for i in items if i not in shutdown]
    users = [n for n, i in enumerate(rest) if "platform" in getattr(i, "fixturenames", ())]
    at = users[-1] + 1 if users else len(rest)
    items[:] = rest[:at] + shutdown + rest[at:]


#: Days the REST stand-in of Coinbase Exchange serves for the history backfill test (inside the history partitions).
HISTORY_DAYS = (pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-03-02", tz="UTC"))
HISTORY_GAP = 6_001_500   # an id the venue lost on the second day


@service_fixture(scope="session")
def coinbase_rest() -> Iterator[ExchangeRestStandIn]:
    """Coinbase Exchange's REST API for the platform's history partitions (a local stand-in, real HTTP)."""
    start, end = HISTORY_DAYS[0].value, (HISTORY_DAYS[-1] + pd.Timedelta(days=1)).value
    btc = generate_product("BTC-USD", start_ns=start - 300 * 10**9, end_ns=end + 300 * 10**9, mean_spacing_s=90,
                           first_id=6_000_000, seed=31, missing=frozenset({HISTORY_GAP}))
    with ExchangeRestStandIn([btc]) as server:
        yield server


@service_fixture(scope="session")
def platform(kafka: Settings, coinbase_rest: ExchangeRestStandIn, tmp_path_factory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("platform")
    run_id = uuid.uuid4().hex[:6]
    topics = {"trades": f"e2e-{run_id}-trades", "candles": f"e2e-{run_id}-candles",
              "signals": f"e2e-{run_id}-signals", "dlq": f"e2e-{run_id}-trades.dlq"}
    bootstrap = kafka.kafka.bootstrap
    create_topics(bootstrap, topics.values())
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=h) for h in (6, 5, 4)]
    per_hour = _publish_history(bootstrap, topics["trades"], hours, per_minute=2)
    duckdb_path = root / "tradestream.duckdb"
    seed_candles(duckdb_path, ("BTC-USD",), BACKTEST_DAY, days=1)

    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(root / "dagster"), "TRADESTREAM_HOME": str(root / "home"),
           "TRADESTREAM_DUCKDB_PATH": str(duckdb_path), "TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "TRADESTREAM_KAFKA_TRADES_TOPIC": topics["trades"], "TRADESTREAM_KAFKA_CANDLES_TOPIC": topics["candles"],
           "TRADESTREAM_KAFKA_SIGNALS_TOPIC": topics["signals"], "TRADESTREAM_KAFKA_DLQ_TOPIC": topics["dlq"],
           "TRADESTREAM_WAREHOUSE_REFRESH_S": "60", "PYTHONUNBUFFERED": "1",
           "TRADESTREAM_COINBASE_REST_URL": coinbase_rest.url, "TRADESTREAM_COINBASE_REST_RATE_PER_S": "200",
           "TRADESTREAM_COINBASE_REST_BURST": "50"}
    # DAGSTER_HOME does not exist yet: `tradestream up` creates it, with the instance's storage
    # made before webserver and daemon start (they would race to create it), as for a newcomer.
    log = root / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "tradestream"), "up", "--port", str(port),
                                 "--mode", "dry"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + UP_TIMEOUT_S
    while not _ready(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"`tradestream up` did not serve the UI within {UP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
        time.sleep(1)
    platform = Platform(url, env, root / "dagster", root / "home", duckdb_path, proc, log, time.monotonic(), hours,
                        per_hour, topics)
    yield platform
    if proc.poll() is None:  # the shutdown test did not run (or failed): stop it the same way
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
