"""``trades_stream``, ``candles_stream``, ``signals_stream``, ``execution_stream``: a materialization starts the
stream.

Materializing a stream asset starts its job, or confirms that it already runs with the
same config (then nothing is restarted), and records where it runs: the process id or
Kubernetes object, the Flink UI and job id when it runs on a session cluster, and the
config hash, which is also the asset's data version. A changed config (another
ingestion mode, new live strategy parameters) stops the old job and starts the new one.
"""


import time

import dagster as dg

from streaming.supervisor.base import StreamSpec
from tradestream_assets.resources import ExchangeResource, KafkaResource, StreamSupervisor, platform_settings
from tradestream_assets.streams.health import flink_job_of
from tradestream_assets.streams.specs import (
    CANDLES_STREAM,
    CAUSE_TAG,
    EXECUTION_STREAM,
    SIGNALS_STREAM,
    TRADES_STREAM,
    expected_spec,
    live_config_path,
)

GROUP = "streams"
#: A command that cannot run (bad option, missing jar) exits within seconds: wait that long to say so here.
STARTUP_CHECK_S = 8.0
FLINK_JOB_WAIT_S = 90.0


def start_stream(context: dg.AssetExecutionContext, name: str, supervisor: StreamSupervisor,
                 exchange: ExchangeResource, kafka: KafkaResource) -> dg.MaterializeResult:
    settings = platform_settings(kafka)
    spec = expected_spec(name, settings, exchange.ingestion(), supervisor.paths().home, supervisor.commands,
                         image=supervisor.stream_image())
    backend = supervisor.get_backend()
    cause = context.run.tags.get(CAUSE_TAG, "materialized")
    handle = backend.ensure(spec)
    if handle.started:
        context.log.info(f"started {name} ({handle.location}, config {spec.config_hash}); cause: {cause}")
        _require_survives_start(backend, spec)
    else:
        context.log.info(f"{name} already runs with config {spec.config_hash} at {handle.location}")
    status = backend.status(name)
    flink_job = None
    if status.ui_url and spec.kind == "beam":
        deadline = time.monotonic() + FLINK_JOB_WAIT_S
        while flink_job is None and time.monotonic() < deadline and backend.status(name).alive:
            try:
                flink_job = flink_job_of(status)
            except OSError:
                pass
            if flink_job is None:
                time.sleep(2)
    metadata: dict[str, dg.MetadataValue] = {
        "action": dg.MetadataValue.text("started" if handle.started else "already running"),
        "replaced_other_config": dg.MetadataValue.bool(handle.replaced),
        "cause": dg.MetadataValue.text(cause),
        "location": dg.MetadataValue.text(handle.location),
        "config_hash": dg.MetadataValue.text(spec.config_hash),
        "command": dg.MetadataValue.text(" ".join(spec.argv)),
        "config": dg.MetadataValue.json(spec.config),
    }
    if handle.pid is not None:
        metadata["pid"] = dg.MetadataValue.int(handle.pid)
    if handle.ui_url:
        metadata["flink_ui"] = dg.MetadataValue.url(handle.ui_url)
    if flink_job:
        metadata["flink_job_id"] = dg.MetadataValue.text(flink_job["jid"])
        metadata["flink_job"] = dg.MetadataValue.url(f"{handle.ui_url.rstrip('/')}/#/job/running/{flink_job['jid']}")
    if status.log_path:
        metadata["log"] = dg.MetadataValue.path(status.log_path)
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(spec.config_hash))


def _require_survives_start(backend, spec: StreamSpec) -> None:
    deadline = time.monotonic() + STARTUP_CHECK_S
    while time.monotonic() < deadline:
        status = backend.status(spec.name)
        if not status.alive:
            tail = "\n".join(status.last_log_lines[-15:])
            raise dg.Failure(
                description=f"{spec.name} exited right after it started ({' '.join(spec.argv)}); last log lines:\n"
                            f"{tail}",
                metadata={"log": dg.MetadataValue.path(status.log_path or "")})
        time.sleep(0.5)


@dg.asset(group_name=GROUP, kinds={"kafka", "python"},
          description="Ingestion (simulator, Coinbase or replay) publishing Trades to Kafka `trades`.")
def trades_stream(context: dg.AssetExecutionContext, supervisor: StreamSupervisor, exchange: ExchangeResource,
                  kafka: KafkaResource) -> dg.MaterializeResult:
    return start_stream(context, TRADES_STREAM, supervisor, exchange, kafka)


@dg.asset(group_name=GROUP, deps=[trades_stream], kinds={"beam", "flink", "kafka"},
          description="Beam job on Flink: Kafka `trades` -> 1m..1d candles on Kafka `candles`.")
def candles_stream(context: dg.AssetExecutionContext, supervisor: StreamSupervisor, exchange: ExchangeResource,
                   kafka: KafkaResource) -> dg.MaterializeResult:
    return start_stream(context, CANDLES_STREAM, supervisor, exchange, kafka)


@dg.asset(group_name=GROUP, deps=[candles_stream, dg.AssetKey("live_strategy_config")],
          kinds={"beam", "flink", "kafka"},
          description="Beam job on Flink: Kafka `candles` -> strategy signals on Kafka `signals`, running the "
                      "strategies and parameters of `live_strategy_config`.")
def signals_stream(context: dg.AssetExecutionContext, supervisor: StreamSupervisor, exchange: ExchangeResource,
                   kafka: KafkaResource) -> dg.MaterializeResult:
    config = live_config_path(supervisor.paths().home)
    if not config.exists() and SIGNALS_STREAM not in supervisor.commands:
        raise dg.Failure(description=f"the live strategy config {config} does not exist yet; "
                                     "materialize live_strategy_config first")
    return start_stream(context, SIGNALS_STREAM, supervisor, exchange, kafka)


@dg.asset(group_name=GROUP, deps=[signals_stream], kinds={"kafka", "python"},
          description="The executor (paper trading unless the settings say live): Kafka `signals` -> risk engine -> "
                      "`orders`, `fills`, `positions`, `risk.events`, exactly once; the accounts of the execution "
                      "settings (default: the paper account on the fallback strategies). docs/execution.md")
def execution_stream(context: dg.AssetExecutionContext, supervisor: StreamSupervisor, exchange: ExchangeResource,
                     kafka: KafkaResource) -> dg.MaterializeResult:
    return start_stream(context, EXECUTION_STREAM, supervisor, exchange, kafka)


STREAM_ASSETS = (trades_stream, candles_stream, signals_stream, execution_stream)
STREAM_ASSET_BY_NAME = {TRADES_STREAM: trades_stream, CANDLES_STREAM: candles_stream, SIGNALS_STREAM: signals_stream,
                        EXECUTION_STREAM: execution_stream}


# Checks stay out of start runs: right after a start there is nothing to judge; the supervisor reports them.
streams_job = dg.define_asset_job(
    "streams_job",
    selection=(dg.AssetSelection.assets(*STREAM_ASSETS) | dg.AssetSelection.assets("live_strategy_config"))
    .without_checks(),
    tags={"dagster/max_retries": "0", "dagster/max_runtime": "900"},
    description="Start streams, or confirm they run with the current config (the stream supervisor requests it "
                "with the streams to start; a first start of signals_stream also writes the live config).")
