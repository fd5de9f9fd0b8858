"""The shared resources, defined once and registered once (see ``definitions.py``).

Every field defaults to ``None`` meaning "what the platform's Settings say" (environment
``TRADESTREAM_<SECTION>_<FIELD>`` and ``tradestream.toml``), so `make run`, tests and the
Helm deployment configure Dagster the same way they configure everything else. A
field set here (Launchpad, tests) overrides the settings for that one resource.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import Field, SecretStr

from streaming.kafka.clients import KafkaClientConfig
from streaming.supervisor.base import SupervisorBackend
from streaming.venues.registry import (
    history_client,
    history_exchanges,
    live_exchanges,
    mode_help,
    source_for,
    with_venue_options,
)
from tradestream import store
from tradestream.alerts import AlertSender
from tradestream.history.venue import HistoryClient
from tradestream.settings import AlertSettings, IngestionSettings, IngestMode, KafkaSettings, PathSettings, Settings


def load_settings() -> Settings:
    return Settings.load()


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster the platform's topics live on."""

    bootstrap_servers: str | None = Field(
        None, description="host:port[,host:port]; default: the local broker from the settings (127.0.0.1:9092).")

    trades_topic: str | None = Field(None, description="Default: the settings' `trades`.")
    candles_topic: str | None = Field(None, description="Default: the settings' `candles`.")
    signals_topic: str | None = Field(None, description="Default: the settings' `signals`.")
    dlq_topic: str | None = Field(None, description="Default: the settings' `trades.dlq`.")
    orders_topic: str | None = Field(None, description="Default: the settings' `orders`.")
    fills_topic: str | None = Field(None, description="Default: the settings' `fills`.")
    positions_topic: str | None = Field(None, description="Default: the settings' `positions`.")
    risk_events_topic: str | None = Field(None, description="Default: the settings' `risk.events`.")
    risk_commands_topic: str | None = Field(None, description="Default: the settings' `risk.commands`.")

    def kafka_settings(self) -> KafkaSettings:
        kafka = load_settings().kafka
        updates = {"bootstrap_servers": self.bootstrap_servers, "trades_topic": self.trades_topic,
                   "candles_topic": self.candles_topic, "signals_topic": self.signals_topic,
                   "dlq_topic": self.dlq_topic, "orders_topic": self.orders_topic, "fills_topic": self.fills_topic,
                   "positions_topic": self.positions_topic, "risk_events_topic": self.risk_events_topic,
                   "risk_commands_topic": self.risk_commands_topic}
        updates = {k: v for k, v in updates.items() if v}
        return kafka.model_copy(update=updates) if updates else kafka

    @property
    def bootstrap(self) -> str:
        return self.kafka_settings().bootstrap

    def client(self) -> KafkaClientConfig:
        """This cluster as every Kafka client sees it (bootstrap, and security when the cluster needs it)."""
        return KafkaClientConfig.from_settings(self.kafka_settings())


class DuckDBStore(dg.ConfigurableResource):
    """The research store: one DuckDB file, one writer at a time, readers read-only."""

    path: str | None = Field(None, description="DuckDB file; default <home>/tradestream.duckdb (.tradestream/).")
    lock_timeout_s: float = Field(store.LOCK_TIMEOUT_S,
                                  description="How long to wait for another process's write lock.")

    @property
    def db_path(self) -> Path:
        return Path(self.path).resolve() if self.path else load_settings().duckdb_path

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with store.writer(self.db_path, self.lock_timeout_s) as con:
            yield con

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Read-only; on a store that does not exist yet, an empty in-memory one with the schema."""
        if not self.db_path.exists():
            con = duckdb.connect()
            store.ensure_schema(con)
            try:
                yield con
            finally:
                con.close()
            return
        with store.reader(self.db_path, self.lock_timeout_s) as con:
            yield con


class SupervisorKind(StrEnum):
    LOCAL = "local"
    KUBERNETES = "kubernetes"


class ExchangeResource(dg.ConfigurableResource):
    """What the ingestion stream reads: a source of the venue registry (by mode and exchange) and pairs."""

    mode: IngestMode | None = Field(None, description=f"{mode_help()}; default: the settings (dry).")
    exchange: str | None = Field(None, description="Wet mode: the live exchange, one of "
                                                   f"{', '.join(live_exchanges())}; default: the settings (coinbase).")
    products: list[str] | None = Field(None, description="Currency pairs; default: the settings' ten USD pairs.")

    def ingestion(self) -> IngestionSettings:
        ingestion = load_settings().ingestion
        mode = IngestMode(self.mode) if self.mode is not None else None
        updates = {k: v for k, v in (("mode", mode), ("exchange", self.exchange), ("products", self.products))
                   if v is not None}
        if updates:
            ingestion = IngestionSettings(**{**ingestion.model_dump(), **updates})
        source_for(ingestion)  # an unknown exchange fails here, naming the known ones
        return ingestion


class StreamSupervisor(dg.ConfigurableResource):
    """Where the long-running streams run: local processes (`make run`) or Kubernetes (Helm)."""

    backend: SupervisorKind | None = Field(
        None, description="local: detached processes under <home>/streams; kubernetes: objects of the Helm "
                          "release (streaming/supervisor/k8s.py). Default: TRADESTREAM_SUPERVISOR_BACKEND, else local.")
    home: str | None = Field(None, description="Local backend: state directory; default the settings' home.")
    namespace: str | None = Field(None, description="Kubernetes backend: namespace; default the pod's own.")
    flink_ui_url: str | None = Field(
        None, description="Link recorded for Beam streams; default the session cluster's REST URL when "
                          "flink.master is HOST:PORT, none for the embedded [local] mini-cluster.")
    commands: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Replace a stream's command line, e.g. {'candles_stream': ['python', '-m', 'streaming.candles', "
                    "'--mode', 'stream', '--sdk-workers', '2']}. A leading 'python -m' runs the module with this "
                    "environment's interpreter (local backend) or the image's (Kubernetes).")

    image: str | None = Field(
        None, description="Kubernetes backend: the image streams run, part of their config hash (an upgrade "
                          "restarts them on the new code); default TRADESTREAM_STREAM_IMAGE (set by the chart).")

    def stream_image(self) -> str | None:
        """The image of the streams on Kubernetes; None for local processes."""
        if self.kind() is not SupervisorKind.KUBERNETES:
            return None
        return self.image or os.environ.get("TRADESTREAM_STREAM_IMAGE") or None

    def kind(self) -> SupervisorKind:
        if self.backend is not None:
            return SupervisorKind(self.backend)
        configured = os.environ.get("TRADESTREAM_SUPERVISOR_BACKEND", SupervisorKind.LOCAL.value)
        try:
            return SupervisorKind(configured)
        except ValueError:
            raise ValueError(f"TRADESTREAM_SUPERVISOR_BACKEND={configured!r} must be one of "
                             f"{[k.value for k in SupervisorKind]}") from None

    def paths(self) -> PathSettings:
        paths = load_settings().paths
        return PathSettings(home=Path(self.home), cache_dir=paths.cache_dir) if self.home else paths

    def ui_url(self) -> str | None:
        if self.flink_ui_url:
            return self.flink_ui_url
        flink = load_settings().flink
        if flink.master in ("[local]", "[auto]"):
            return None
        return f"http://{flink.master}"

    def get_backend(self) -> SupervisorBackend:
        if self.kind() is SupervisorKind.KUBERNETES:
            from streaming.supervisor.k8s import KubernetesBackend

            return KubernetesBackend.in_cluster(namespace=self.namespace)
        from streaming.supervisor.local import LocalProcessBackend

        return LocalProcessBackend(self.paths().home, flink_ui_url=self.ui_url())


class AlertsResource(dg.ConfigurableResource):
    """Where alerts go (tradestream/alerts.py): Apprise URLs (Slack, Telegram, e-mail, webhooks...)."""

    urls: list[str] | None = Field(None, description="Apprise URLs; default the settings' TRADESTREAM_ALERTS_URLS "
                                                      "(from a Secret on Kubernetes). Empty: no alerts.")
    repeat_after_s: float | None = Field(None, description="Repeat a lasting alert this often; default the "
                                                           "settings' (1 h).")

    def settings(self) -> AlertSettings:
        configured = load_settings().alerts
        updates: dict = {}
        if self.urls is not None:
            updates["urls"] = [SecretStr(u) for u in self.urls]
        if self.repeat_after_s is not None:
            updates["repeat_after_s"] = self.repeat_after_s
        return configured.model_copy(update=updates)

    def sender(self) -> AlertSender:
        return AlertSender(self.settings())


class HistoryResource(dg.ConfigurableResource):
    """The exchange whose REST history ``market_history`` imports (docs/history.md), and where to reach it."""

    exchange: str = Field("coinbase", description=f"A venue with a REST history: {', '.join(history_exchanges())}.")
    rest_url: str | None = Field(None, description="The venue's REST base URL; default: its settings "
                                                   "(coinbase: TRADESTREAM_COINBASE_REST_URL, "
                                                   "https://api.exchange.coinbase.com).")

    def client(self) -> HistoryClient:
        settings = load_settings()
        if self.rest_url:
            settings = with_venue_options(settings, self.exchange, rest_url=self.rest_url)
        return history_client(self.exchange, settings)


def platform_settings(kafka: KafkaResource) -> Settings:
    """The settings with the Kafka resource's cluster and topics: what streams and probes agree on."""
    return load_settings().model_copy(update={"kafka": kafka.kafka_settings()})


RESOURCES: dict[str, dg.ConfigurableResource] = {
    "kafka": KafkaResource(),
    "duckdb": DuckDBStore(),
    "exchange": ExchangeResource(),
    "supervisor": StreamSupervisor(),
    "alerts": AlertsResource(),
    "history": HistoryResource(),
}
