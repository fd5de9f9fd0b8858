"""What each stream runs, reads and writes, and how fresh its output must be.

A stream's ``StreamSpec`` is rebuilt from the settings (and, for signals, the live
strategy config file) every time it is needed; its config hash is what "the same
stream" means. When the hash of what should run differs from what runs, the
supervisor restarts the stream with the new config.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from streaming.supervisor.base import StreamKind, StreamSpec, module_command
from tradestream.settings import IngestionSettings, IngestMode, Settings

TRADES_STREAM = "trades_stream"
CANDLES_STREAM = "candles_stream"
SIGNALS_STREAM = "signals_stream"
EXECUTION_STREAM = "execution_stream"
STREAM_NAMES: tuple[str, ...] = (TRADES_STREAM, CANDLES_STREAM, SIGNALS_STREAM, EXECUTION_STREAM)

#: Run tag naming the streams a start/restart run starts, e.g. "candles_stream,signals_stream" (Runs list).
STREAM_TAG = "tradestream/streams"
#: Run tag saying why a start/restart run was requested; shown in the UI's run list.
CAUSE_TAG = "tradestream/restart-cause"


def stream_tag(name: str) -> str:
    """Run tag key of one stream; dagster.yaml limits each key to one run at a time: one instance per stream.

    A key per stream (not one key with the stream as value) lets one run start several streams, as
    `make run` does at first, while still never overlapping with another start of any of them.
    """
    return f"tradestream/stream.{name}"

LIVE_CONFIG_FILE = "live/active_strategies.yaml"
SIGNALS_CONSUMER_GROUP = "tradestream-signals"


@dataclass(frozen=True)
class StreamProfile:
    """How a stream is watched."""

    name: str
    kind: StreamKind
    input_topic: str | None
    output_topic: str
    consumer_group: str | None
    max_output_age_s: float | None   # None: output is sparse (signals), its age says nothing about health
    max_lag: int | None              # records behind on the input topic before the check fails


def profiles(settings: Settings) -> dict[str, StreamProfile]:
    k = settings.kafka
    return {
        TRADES_STREAM: StreamProfile(TRADES_STREAM, "process", None, k.trades_topic, None,
                                     max_output_age_s=60.0, max_lag=None),
        CANDLES_STREAM: StreamProfile(CANDLES_STREAM, "beam", k.trades_topic, k.candles_topic,
                                      settings.pipeline.consumer_group,
                                      # a 1m candle leaves after its minute, the allowed lateness and the watermark
                                      max_output_age_s=180.0 + settings.pipeline.allowed_lateness_s,
                                      max_lag=50_000),
        SIGNALS_STREAM: StreamProfile(SIGNALS_STREAM, "beam", k.candles_topic, k.signals_topic,
                                      SIGNALS_CONSUMER_GROUP, max_output_age_s=None, max_lag=10_000),
        # positions move only on fills; the lag on `signals` says whether the executor keeps up
        EXECUTION_STREAM: StreamProfile(EXECUTION_STREAM, "process", k.signals_topic, k.positions_topic,
                                        settings.execution.consumer_group, max_output_age_s=None, max_lag=10_000),
    }


def live_config_path(home: Path) -> Path:
    """Where ``live_strategy_config`` writes the active strategy set that ``signals_stream`` runs."""
    return Path(home) / LIVE_CONFIG_FILE


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def kafka_env(settings: Settings) -> dict[str, str]:
    """The cluster, its security protocol and the topics a stream must use, passed explicitly so it agrees
    with its supervisor (securing the cluster changes the hash: the streams restart with credentials)."""
    k = settings.kafka
    return {"TRADESTREAM_KAFKA_BOOTSTRAP_SERVERS": k.bootstrap, "TRADESTREAM_KAFKA_TRADES_TOPIC": k.trades_topic,
            "TRADESTREAM_KAFKA_CANDLES_TOPIC": k.candles_topic, "TRADESTREAM_KAFKA_SIGNALS_TOPIC": k.signals_topic,
            "TRADESTREAM_KAFKA_DLQ_TOPIC": k.dlq_topic, "TRADESTREAM_KAFKA_ORDERS_TOPIC": k.orders_topic,
            "TRADESTREAM_KAFKA_FILLS_TOPIC": k.fills_topic, "TRADESTREAM_KAFKA_POSITIONS_TOPIC": k.positions_topic,
            "TRADESTREAM_KAFKA_RISK_EVENTS_TOPIC": k.risk_events_topic,
            "TRADESTREAM_KAFKA_RISK_COMMANDS_TOPIC": k.risk_commands_topic,
            "TRADESTREAM_KAFKA_ACCOUNT_STATES_TOPIC": k.account_states_topic,
            "TRADESTREAM_KAFKA_EXECUTION_SNAPSHOTS_TOPIC": k.execution_snapshots_topic,
            "TRADESTREAM_KAFKA_SECURITY_PROTOCOL": k.security_protocol}


def with_image(spec: StreamSpec, image: str | None) -> StreamSpec:
    """``spec`` running ``image`` (Kubernetes): the image is part of the config hash, so an upgrade that
    changes it restarts the stream on the new code. None (local processes) leaves the spec as it is."""
    if image is None:
        return spec
    return replace(spec, config={**spec.config, "image": image})


def trades_spec(settings: Settings, ingestion: IngestionSettings) -> StreamSpec:
    """Ingestion through its own entry point (streaming/ingestion/__main__.py); the exchange only
    where the mode reads one (wet)."""
    mode = IngestMode(ingestion.mode)
    argv = module_command("streaming.ingestion", "--mode", mode.value)
    config: dict[str, object] = {"mode": mode.value}
    if mode is IngestMode.WET:
        argv += ("--exchange", ingestion.exchange)
        config["exchange"] = ingestion.exchange
    argv += ("--products", ",".join(ingestion.products))
    return StreamSpec(TRADES_STREAM, "process", argv, env=kafka_env(settings),
                      config={**config, "products": list(ingestion.products)}, kafka_user="ingestion")


def candles_spec(settings: Settings) -> StreamSpec:
    argv = module_command("streaming.candles", "--mode", "stream")
    if settings.flink.master not in ("[local]", "[auto]"):
        argv += ("--flink-master", settings.flink.master)
    return StreamSpec(CANDLES_STREAM, "beam", argv, env=kafka_env(settings),
                      config={"flink_master": settings.flink.master, "timeframes": settings.pipeline.timeframes},
                      kafka_user="candles")


def signals_spec(settings: Settings, live_config: Path) -> StreamSpec:
    argv = module_command("streaming.signals", "--config", str(live_config))
    if settings.flink.master not in ("[local]", "[auto]"):
        argv += ("--flink-master", settings.flink.master)
    # the config file's content is part of the identity: new live parameters restart the stream
    return StreamSpec(SIGNALS_STREAM, "beam", argv, env=kafka_env(settings),
                      config={"live_config": str(live_config), "live_config_sha256": file_sha256(live_config),
                              "flink_master": settings.flink.master}, kafka_user="signals")


def execution_spec(settings: Settings) -> StreamSpec:
    """The executor (streaming/execution/__main__.py) with the settings' accounts file, mode and allow-list.

    The accounts file is not part of the identity: the executor reloads it by itself (a bad edit keeps
    the running config), so editing it never restarts the stream.
    """
    e = settings.execution
    argv = module_command("streaming.execution", "--mode", e.mode)
    for account in e.live_accounts if e.mode == "live" else ():
        argv += ("--live-account", account)
    if e.accounts_file:
        argv += ("--accounts", str(e.accounts_file))
    return StreamSpec(EXECUTION_STREAM, "process", argv, env=kafka_env(settings),
                      config={"mode": e.mode, "live_accounts": list(e.live_accounts) if e.mode == "live" else [],
                              "accounts_file": str(e.accounts_file or "default"), "group": e.consumer_group},
                      kafka_user="executor")


def expected_spec(name: str, settings: Settings, ingestion: IngestionSettings, home: Path,
                  commands: dict[str, list[str]] | None = None, image: str | None = None) -> StreamSpec:
    """The spec ``name`` should run with now; ``commands`` replaces a stream's command line; ``image``
    is the container image it runs on Kubernetes (part of its identity)."""
    if name == TRADES_STREAM:
        spec = trades_spec(settings, ingestion)
    elif name == CANDLES_STREAM:
        spec = candles_spec(settings)
    elif name == SIGNALS_STREAM:
        spec = signals_spec(settings, live_config_path(home))
    elif name == EXECUTION_STREAM:
        spec = execution_spec(settings)
    else:
        raise ValueError(f"unknown stream {name!r}; streams are {list(STREAM_NAMES)}")
    override = (commands or {}).get(name)
    if override:
        spec = replace(spec, argv=tuple(override), config={**spec.config, "command": override})
    return with_image(spec, image)
