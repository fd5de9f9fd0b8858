"""One typed settings object for every component.

Precedence (highest first): explicit keyword arguments, environment variables
(``TRADESTREAM_<SECTION>_<FIELD>``, e.g. ``TRADESTREAM_KAFKA_PORT``), the config file
(``TRADESTREAM_CONFIG`` or ``./tradestream.toml``; TOML or YAML, one table per section),
then the defaults below. Components receive a ``Settings`` instance; nothing reads the
environment behind their back.
"""

from __future__ import annotations

import os
import tomllib
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from tradestream.timeframes import BASE_TIMEFRAME, TIMEFRAMES, check_timeframes

DEFAULT_CONFIG_FILE = "tradestream.toml"


class ConfigFileError(ValueError):
    """The config file exists but cannot be read."""


def config_file_path() -> Path | None:
    explicit = os.environ.get("TRADESTREAM_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigFileError(f"TRADESTREAM_CONFIG={explicit} does not name a file; create it or unset it")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"config file {path} is not valid {path.suffix.lstrip('.') or 'toml'}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a table of sections, got {type(data).__name__}")
    return data


class _FileSection(PydanticBaseSettingsSource):
    """Reads one section (``[kafka]``, ``[flink]`` ...) of the config file."""

    def __init__(self, settings_cls: type[BaseSettings], section: str):
        super().__init__(settings_cls)
        self.section = section

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data = load_config_file(config_file_path()).get(self.section, {})
        if not isinstance(data, dict):
            raise ConfigFileError(f"config section [{self.section}] must be a table, got {data!r}")
        return data


def check_websocket_url(value: str) -> str:
    """``value`` if it is a ws:// or wss:// URL; else an error naming it."""
    if not value.startswith(("ws://", "wss://")):
        raise ValueError(f"websocket url {value!r} must start with ws:// or wss://")
    return value


#: A setting holding a WebSocket URL (venue sections: ``ws_url: WebSocketUrl = ...``).
WebSocketUrl = Annotated[str, AfterValidator(check_websocket_url)]


class SettingsSection(BaseSettings):
    """One section of the settings: ``[<section>]`` in the config file, ``TRADESTREAM_<...>_`` in the
    environment. The core's sections are fields of :class:`Settings`; a venue's section (its own
    module under ``streaming/venues``) subclasses this and is read with :meth:`Settings.venue`."""

    section: ClassVar[str] = ""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, env_settings, _FileSection(settings_cls, cls.section)


class PathSettings(SettingsSection):
    section: ClassVar[str] = "paths"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_", extra="forbid")

    home: Path = Field(Path(".tradestream"), description="State of the local runtime: Kafka data, logs, DuckDB, pids.")
    cache_dir: Path = Field(Path("~/.cache/tradestream"),
                            description="JVM artifacts (Kafka, Beam job server, Flink), shared by checkouts.")

    @field_validator("home", "cache_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        # absolute, so child processes with another working directory agree on the place
        return value.expanduser().resolve()


class KafkaSettings(SettingsSection):
    section: ClassVar[str] = "kafka"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_KAFKA_", extra="forbid")

    version: str = Field("4.1.1", description="Apache Kafka broker version fetched from Maven Central.")
    host: str = Field("127.0.0.1", description="Address the local brokers listen on.")
    port: int = Field(9092, ge=1, le=65535, description="Client port of broker 0; broker i uses port + i.")
    controller_port: int = Field(9093, ge=1, le=65535,
                                 description="KRaft controller port of node 0; 3-broker clusters use 19093+i.")
    bootstrap_servers: str | None = Field(None, description="Use an existing cluster instead of the local one.")
    heap: str = Field("512m", description="JVM heap of each local broker.")
    topic_partitions: int = Field(3, ge=1, le=1000)
    topic_replication: int = Field(1, ge=1, le=5)
    topic_min_insync_replicas: int = Field(1, ge=1, le=5)
    retention_hours: int = Field(168, ge=1, description="Retention of every topic but trades.dlq and the "
                                                        "compacted ones.")
    dlq_retention_hours: int = Field(720, ge=1)
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(None, description="Never logged; comes from a Secret in Kubernetes.")
    ssl_ca_location: Path | None = Field(None, description="CA certificate(s) the brokers' TLS certificates are "
                                                           "checked against (PEM); unset: the system's CAs.")
    trades_topic: str = "trades"
    candles_topic: str = "candles"
    signals_topic: str = "signals"
    dlq_topic: str = "trades.dlq"
    # the execution stream's topics (docs/execution.md, "Topics"); the Kafka ACLs name them
    orders_topic: str = "orders"
    fills_topic: str = "fills"
    positions_topic: str = "positions"
    risk_events_topic: str = "risk.events"
    risk_commands_topic: str = Field("risk.commands", description="Kill switch commands; compacted, one partition.")
    account_states_topic: str = Field("execution.state", description="Each account's latest risk state; compacted.")
    execution_snapshots_topic: str = Field(
        "execution.snapshots", description="The executor's state, written in each transaction; compacted.")

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.port}"

    def client_config(self) -> dict[str, str]:
        """librdkafka settings every producer, consumer and admin client starts from."""
        cfg = {"bootstrap.servers": self.bootstrap}
        if self.security_protocol != "PLAINTEXT":
            cfg["security.protocol"] = self.security_protocol
        if self.sasl_mechanism:
            cfg["sasl.mechanism"] = self.sasl_mechanism
            cfg["sasl.username"] = self.sasl_username or ""
            cfg["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        if self.ssl_ca_location is not None and self.security_protocol in ("SSL", "SASL_SSL"):
            cfg["ssl.ca.location"] = str(self.ssl_ca_location)
        return cfg

    @model_validator(mode="after")
    def _security(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_mechanism and self.sasl_username):
            raise ValueError(f"kafka.security_protocol={self.security_protocol} needs kafka.sasl_mechanism and "
                             "kafka.sasl_username (TRADESTREAM_KAFKA_SASL_MECHANISM, TRADESTREAM_KAFKA_SASL_USERNAME, "
                             "TRADESTREAM_KAFKA_SASL_PASSWORD)")
        if self.ssl_ca_location is not None and not self.ssl_ca_location.is_file():
            raise ValueError(f"kafka.ssl_ca_location={self.ssl_ca_location} is not a file; point "
                             "TRADESTREAM_KAFKA_SSL_CA_LOCATION at the CA that signed the brokers' certificates")
        return self

    @property
    def execution_topics(self) -> tuple[str, ...]:
        return (self.orders_topic, self.fills_topic, self.positions_topic, self.risk_events_topic,
                self.risk_commands_topic, self.account_states_topic, self.execution_snapshots_topic)

    @property
    def compacted_topics(self) -> tuple[str, ...]:
        """Topics that keep the latest record per key instead of a time window."""
        return (self.risk_commands_topic, self.account_states_topic, self.execution_snapshots_topic)

    @property
    def single_partition_topics(self) -> tuple[str, ...]:
        """Topics whose records need one total order: halts of one account and of all, the executor's state."""
        return (self.risk_commands_topic, self.execution_snapshots_topic)

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.trades_topic, self.candles_topic, self.signals_topic, self.dlq_topic, *self.execution_topics)


class FlinkSettings(SettingsSection):
    section: ClassVar[str] = "flink"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_FLINK_", extra="forbid")

    beam_version: str = Field("2.62.0", description="Beam Java runner version; equals the Python SDK version.")
    flink_version: str = Field("1.19", description="Flink minor version of the Beam runner and session cluster.")
    distribution_version: str = Field("1.19.3", description="apache-flink PyPI version of the session cluster.")
    master: str = Field("[local]",
                        description="'[local]' for the embedded mini-cluster or HOST:PORT of a session cluster.")
    rest_port: int = Field(8081, ge=1, le=65535, description="REST/UI port of the local session cluster.")
    job_server_port: int = Field(8099, ge=1, le=65535)
    parallelism: int = Field(1, ge=1, le=64)
    checkpointing_interval_ms: int = Field(10_000, ge=100)
    state_dir: str | None = Field(
        None, description="Durable root of the jobs' checkpoints and savepoints (file:///... or s3://...); "
                          "unset: the runtime home. The Helm chart sets it to its volume or bucket.")
    taskmanager_slots: int = Field(4, ge=1, le=64)
    worker_pool: str | None = Field(
        None, description="HOST:PORT of a Beam Python worker pool (EXTERNAL environment, the Kubernetes sidecar); "
                          "unset = LOOPBACK workers inside the submitting process.")

    @field_validator("state_dir")
    @classmethod
    def _state_dir(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("file:///", "s3://", "s3a://", "s3p://")):
            raise ValueError(f"flink state_dir {value!r} must be a file:/// URI or an s3:// URI")
        return value

    @field_validator("master")
    @classmethod
    def _master(cls, value: str) -> str:
        if value in ("[local]", "[auto]"):
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"flink master {value!r} must be '[local]' or HOST:PORT, e.g. localhost:8081")
        return value


class IngestMode(StrEnum):
    """Where ingestion takes its trades from: THE list of modes (``--mode``, TRADESTREAM_INGEST_MODE,
    the Dagster resource, the chart's ``dataIngestion.runMode``). Which source serves a mode is the
    venue registry's business (``streaming/venues/registry.py``)."""

    DRY = "dry"          #: a simulated market
    WET = "wet"          #: a live exchange, the one named by ``ingestion.exchange``
    REPLAY = "replay"    #: a recorded trades file


class IngestionSettings(SettingsSection):
    section: ClassVar[str] = "ingestion"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_INGEST_", extra="forbid")

    mode: IngestMode = Field(IngestMode.DRY, description="dry = simulator, wet = live exchange, replay = file.")
    exchange: str = Field("coinbase", description="Wet mode: the live exchange, a source registered in "
                                                  "streaming/venues (e.g. coinbase).")
    products: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "DOGE-USD",
                                 "ADA-USD", "AVAX-USD", "LINK-USD", "DOT-USD", "LTC-USD"],
        description="Currency pairs to ingest.")
    products_per_connection: int = Field(15, ge=1, le=100)
    rate: float = Field(20.0, gt=0, description="Simulator: mean trades per second across all pairs.")
    speed: float = Field(1.0, gt=0, description="Simulator/replay: event-time speed-up over wall time.")
    seed: int = Field(42, description="Simulator seed.")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve Prometheus metrics on this port.")
    log_every_s: float = Field(30.0, gt=0)
    duration_s: float | None = Field(None, gt=0, description="Stop after this many seconds (None: until SIGTERM).")
    replay_file: Path | None = Field(None, description="Replay mode: recorded trades (.csv, .parquet, .jsonl).")
    intraday_amplitude: float = Field(0.5, ge=0, lt=1,
                                      description="Simulator: daily swing of the trade rate (0 = flat).")
    # Small but non-zero by default so `make run` exercises the pipeline's late/duplicate handling.
    out_of_order_rate: float = Field(0.005, ge=0, le=1, description="Simulator: share delivered up to 2 s late.")
    late_rate: float = Field(0.001, ge=0, le=1, description="Simulator: share delivered late_delay_s late.")
    late_delay_s: tuple[float, float] = Field((10.0, 120.0), description="Simulator: (min, max) delay of late trades.")
    duplicate_rate: float = Field(0.001, ge=0, le=1, description="Simulator: share delivered twice.")
    max_future_skew_s: float = Field(300.0, gt=0, description="Reject trades stamped further in the future.")
    max_trade_age_s: float = Field(7 * 86400.0, gt=0, description="Wet mode: reject trades older than this.")
    dedupe_window: int = Field(100_000, ge=1, description="Trade ids remembered per pair to drop replays.")
    compression: Literal["lz4", "zstd", "snappy", "gzip", "none"] = Field("lz4", description="Producer compression.")
    linger_ms: float = Field(5.0, ge=0, le=1000, description="Producer batching delay.")
    producer_queue_max_messages: int = Field(100_000, ge=1000, le=10_000_000,
                                             description="Bound on trades buffered in the producer (backpressure).")
    reconnect_base_s: float = Field(0.5, gt=0, description="First reconnect delay; doubles per failure.")
    reconnect_max_s: float = Field(30.0, gt=0, description="Cap of the reconnect delay.")
    stale_after_s: float = Field(30.0, gt=0, description="Reconnect when a connection is silent this long.")
    shutdown_timeout_s: float = Field(30.0, gt=0, description="Wait this long for Kafka to ack buffered trades.")
    repair_gaps: bool = Field(True, description="Wet mode: fetch trades the live stream missed over the venue's REST "
                                                "history and publish them marked repaired (docs/history.md).")
    repair_delay_s: float = Field(2.0, gt=0, description="Wait this long for the stream to deliver a gap's trades "
                                                         "before fetching them over REST.")

    @field_validator("products", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("products")
    @classmethod
    def _pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            base, sep, quote = pair.partition("-")
            if not sep or not base.isalnum() or not quote.isalnum() or pair != pair.upper():
                raise ValueError(f"currency pair {pair!r} must look like 'BTC-USD'")
        if not value:
            raise ValueError("at least one currency pair is required")
        return value

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, value: str) -> str:
        # which names exist is the venue registry's to say; here only their shape
        if not value or not value.replace("_", "").isalnum() or value != value.lower():
            raise ValueError(f"exchange {value!r} must be a lowercase source name such as 'coinbase'")
        return value


class PipelineSettings(SettingsSection):
    section: ClassVar[str] = "pipeline"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_PIPELINE_", extra="forbid")

    allowed_lateness_s: int = Field(30, ge=0, description="Late trades within this many seconds revise a candle.")
    fill_forward_cap_s: int = Field(24 * 3600, ge=60, description="Stop filling a pair that went quiet this long.")
    timeframes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(TIMEFRAMES))
    consumer_group: str = "tradestream-candles"

    @field_validator("timeframes", mode="before")
    @classmethod
    def _split_tfs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("timeframes")
    @classmethod
    def _tfs(cls, value: list[str]) -> list[str]:
        check_timeframes(value)
        if BASE_TIMEFRAME not in value:
            raise ValueError(f"timeframes must include the base timeframe {BASE_TIMEFRAME!r}")
        return value


class ExecutionSettings(SettingsSection):
    """The execution stream (``python -m streaming.execution``, docs/execution.md)."""

    section: ClassVar[str] = "execution"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_EXECUTION_", extra="forbid")

    accounts_file: Path | None = Field(None, description="Accounts and allocations (YAML); default the paper account "
                                                         "of tradestream/execution/default_accounts.yaml.")
    mode: Literal["paper", "live"] = Field("paper", description="live places real orders for the accounts on "
                                                                "live_accounts whose mode is live; paper never does.")
    live_accounts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allow-list of accounts that may place live orders (with mode live).")
    venue: str = Field("coinbase", description="Where live orders go: a source of streaming/venues with order "
                                               "placement.")
    consumer_group: str = Field("tradestream-execution", description="Consumer group, transactional id and "
                                                                     "snapshot key of the executor.")
    clock: Literal["auto", "wall", "event"] = Field(
        "auto", description="The executor's `now`: wall clock, or event time (the signal's candle close; stale "
                            "signals then never trip). auto: wall in live mode and wet ingestion, event otherwise.")
    start: Literal["latest", "earliest"] = Field(
        "latest", description="Where a first start (no snapshot, no committed offsets) reads signals and trades.")
    commit_interval_ms: float = Field(
        0.0, ge=0, le=10_000, description="How long a transaction with orders or fills stays open collecting more "
                                          "records (0: commit as soon as the records at hand are processed).")
    quiet_commit_interval_ms: float = Field(
        1000.0, ge=0, le=60_000, description="How long a transaction that only moved marks stays open.")
    max_batch: int = Field(5000, ge=1, le=1_000_000, description="Most input records in one transaction.")
    reload_interval_s: float = Field(5.0, gt=0, description="Seconds between checks of the accounts file.")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve Prometheus metrics on this port.")
    max_live_cost_bps: float = Field(
        50.0, ge=0, description="execution_matches_backtest with next_trade fills: fail when an allocation's mean "
                                "cost against its backtest (slippage and latency) exceeds this, in basis points.")

    @field_validator("live_accounts", mode="before")
    @classmethod
    def _split_accounts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value


class StorageSettings(SettingsSection):
    section: ClassVar[str] = "storage"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_DUCKDB_", extra="forbid")

    path: Path | None = Field(None, description="DuckDB file; default <home>/tradestream.duckdb.")


class AlertSettings(SettingsSection):
    """Where alerts go (tradestream/alerts.py): Apprise URLs, e.g. slack://T/B/C, tgram://bot/chat,
    mailtos://user:pass@host?to=ops@example.com, json://host/path (a webhook)."""

    section: ClassVar[str] = "alerts"
    # an invalid URL's error must not repeat it: it may hold a token
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_ALERTS_", extra="forbid", hide_input_in_errors=True)

    urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Apprise URLs, comma or space separated; they hold tokens (a Secret "
                                          "on Kubernetes). None: no alerts.")
    repeat_after_s: float = Field(3600.0, gt=0, description="Repeat an alert whose condition lasts this often.")
    timeout_s: float = Field(10.0, gt=0, description="Give a notification service this long to answer.")

    @field_validator("urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [u for u in value.replace(",", " ").split() if u]
        return value

    @field_validator("urls")
    @classmethod
    def _schemes(cls, value: list[SecretStr]) -> list[SecretStr]:
        for url in value:
            scheme, sep, _ = url.get_secret_value().partition("://")
            if not sep or not scheme:
                # the value is not shown: it may hold a token
                raise ValueError("an alert URL must look like scheme://..., e.g. slack://, tgram://, json://")
        return value


class Settings(BaseModel):
    """Everything configurable in TradeStream, grouped by component.

    The core's sections are fields. A venue's section lives with the venue (the core imports
    nothing from ``streaming/``) and is read through :meth:`venue`, with the same precedence.
    """

    model_config = ConfigDict(extra="forbid")

    paths: PathSettings = Field(default_factory=PathSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    flink: FlinkSettings = Field(default_factory=FlinkSettings)
    ingestion: IngestionSettings = Field(default_factory=IngestionSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    execution: ExecutionSettings = Field(default_factory=ExecutionSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    venues: dict[str, SettingsSection] = Field(
        default_factory=dict, description="Venue sections given explicitly (with_venue), by section name; "
                                          "a venue not here is read from the environment and the config file.")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.kafka.topic_min_insync_replicas > self.kafka.topic_replication:
            raise ValueError(
                f"kafka.topic_min_insync_replicas={self.kafka.topic_min_insync_replicas} exceeds "
                f"kafka.topic_replication={self.kafka.topic_replication}")
        return self

    def venue[S: SettingsSection](self, section: type[S]) -> S:
        """The venue section ``section`` (e.g. ``CoinbaseSettings``): the one given with :meth:`with_venue`,
        else loaded like every section (environment, config file ``[<section>]``, defaults)."""
        held = self.venues.get(section.section)
        if held is None:
            return section()
        if not isinstance(held, section):
            raise TypeError(f"settings section [{section.section}] holds a {type(held).__name__}, "
                            f"not a {section.__name__}")
        return held

    def with_venue(self, section: SettingsSection) -> Settings:
        """A copy whose venue section ``section.section`` is ``section`` (explicit values win)."""
        return self.model_copy(update={"venues": {**self.venues, section.section: section}})

    @cached_property
    def duckdb_path(self) -> Path:
        return self.storage.path or self.paths.home / "tradestream.duckdb"

    @classmethod
    def load(cls) -> Settings:
        """Settings from the environment and the config file (the usual entry point)."""
        return cls()
