"""Freshness of the streaming assets: alive, current config, recent output, small lag.

The supervisor sensor reports these checks on every tick; running a check from the UI
probes the stream once, the same way.
"""


import dagster as dg

from tradestream_assets.resources import ExchangeResource, KafkaResource, StreamSupervisor, platform_settings
from tradestream_assets.streams.assets import STREAM_ASSET_BY_NAME
from tradestream_assets.streams.health import StreamHealth, probe
from tradestream_assets.streams.specs import expected_spec, profiles

FRESH_CHECK = "stream_fresh"


def probe_stream(name: str, supervisor: StreamSupervisor, exchange: ExchangeResource,
                 kafka: KafkaResource) -> StreamHealth:
    settings = platform_settings(kafka)
    spec = expected_spec(name, settings, exchange.ingestion(), supervisor.paths().home, supervisor.commands,
                         image=supervisor.stream_image())
    return probe(profiles(settings)[name], supervisor.get_backend(), kafka.client(),
                 spec.config_hash)


def check_evaluation(health: StreamHealth) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(asset_key=dg.AssetKey(health.name), check_name=FRESH_CHECK,
                                   passed=health.healthy, metadata=health.metadata(),
                                   description="; ".join(health.problems) or "alive and fresh")


def _fresh_check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=STREAM_ASSET_BY_NAME[name], name=FRESH_CHECK,
                    description=f"{name} runs with the current config, its newest output record is recent "
                                "and its consumer lag is small.")
    def _check(supervisor: StreamSupervisor, exchange: ExchangeResource,
               kafka: KafkaResource) -> dg.AssetCheckResult:
        health = probe_stream(name, supervisor, exchange, kafka)
        return dg.AssetCheckResult(passed=health.healthy, metadata=health.metadata(),
                                   description="; ".join(health.problems) or "alive and fresh")

    _check.__name__ = f"{name}_fresh"
    return _check


STREAM_CHECKS = [_fresh_check(name) for name in STREAM_ASSET_BY_NAME]
