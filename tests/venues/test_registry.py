"""The venue registry: every source builds, names resolve with clear errors, the mode set is defined once."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest

from streaming.ingestion.adapter import ExchangeAdapter
from streaming.venues import _template
from streaming.venues.registry import (
    CLUSTER_MODES,
    SOURCES,
    UnknownSource,
    build_adapter,
    history_client,
    history_exchanges,
    live_exchanges,
    mode_help,
    source,
    source_for,
    sources_for,
    with_venue_options,
)
from streaming.venues.spec import Capability, MissingCapability, VenueSpec
from tradestream.settings import IngestionSettings, IngestMode, Settings

REPO = Path(__file__).resolve().parents[2]


def settings_for(spec: VenueSpec, tmp_path: Path) -> Settings:
    """Default settings that select ``spec``; a file source gets a one-trade file, the one thing it needs."""
    fields: dict[str, object] = {"mode": spec.mode}
    if spec.mode is IngestMode.WET:
        fields["exchange"] = spec.name
    if spec.mode is IngestMode.REPLAY:
        path = tmp_path / "one.csv"
        path.write_text("currency_pair,trade_id,price,size,side,event_time\n"
                        "BTC-USD,1,64000,0.1,BUY,2024-05-01T12:00:00Z\n")
        fields["replay_file"] = path
    return Settings(ingestion=IngestionSettings(**fields))


@pytest.mark.parametrize("name", list(SOURCES))
def test_every_registered_source_builds_its_adapter_from_default_settings(name: str, tmp_path: Path) -> None:
    spec = SOURCES[name]
    settings = settings_for(spec, tmp_path)
    assert source_for(settings.ingestion) is spec
    adapter = build_adapter(settings)
    assert isinstance(adapter, ExchangeAdapter)
    assert adapter.name == spec.name, "the adapter's name is the source's name (dead letters say ingest:<name>)"
    assert spec.description and "\n" not in spec.description
    assert Capability.LIVE_TRADES in spec.capabilities
    if spec.settings is not None:
        section = spec.settings()
        assert section.section == spec.name
        assert spec.settings.model_config["env_prefix"] == f"TRADESTREAM_{spec.name.upper()}_"


def test_a_file_source_without_its_file_says_how_to_give_one() -> None:
    with pytest.raises(ValueError, match="--file or set TRADESTREAM_INGEST_REPLAY_FILE"):
        build_adapter(Settings(ingestion=IngestionSettings(mode="replay")))


def test_an_unknown_source_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(UnknownSource, match=r"unknown source 'kraken'; known sources: simulator, replay, coinbase"):
        source("kraken")


@pytest.mark.parametrize("exchange", ["kraken", "simulator"])
def test_wet_mode_accepts_only_a_live_exchange_and_lists_them(exchange: str) -> None:
    ingestion = IngestionSettings(mode="wet", exchange=exchange)
    with pytest.raises(UnknownSource, match=rf"exchange '{exchange}' is not a live exchange; .* one of: coinbase"):
        source_for(ingestion)


def test_an_exchange_name_of_the_wrong_shape_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="exchange 'Coin Base' must be a lowercase source name"):
        IngestionSettings(exchange="Coin Base")


def test_modes_pick_their_source_and_the_exchange_matters_only_when_wet() -> None:
    assert source_for(IngestionSettings(mode="dry", exchange="nonesuch")).name == "simulator"
    assert source_for(IngestionSettings(mode="replay")).name == "replay"
    assert source_for(IngestionSettings(mode="wet")).name == "coinbase", "the default exchange"
    assert source_for(IngestionSettings()).name == "simulator", "the default mode"


def test_every_mode_has_a_source_and_only_wet_has_a_choice_of_them() -> None:
    for mode in IngestMode:
        assert sources_for(mode), mode
        if mode is not IngestMode.WET:
            assert len(sources_for(mode)) == 1, mode
    assert live_exchanges() == ["coinbase"]
    assert set(SOURCES) == {spec.name for mode in IngestMode for spec in sources_for(mode)}


def test_a_missing_capability_is_refused_by_name() -> None:
    with pytest.raises(MissingCapability, match="source 'simulator' has no history .*offers: live trades"):
        source("simulator").require(Capability.HISTORY)
    with pytest.raises(MissingCapability, match="source 'replay' has no history"):
        history_client("replay", Settings())


def test_venues_with_history_build_their_rest_client_from_their_settings() -> None:
    assert history_exchanges() == ["coinbase"]
    settings = with_venue_options(Settings(), "coinbase", rest_url="http://127.0.0.1:9/")
    client = history_client("coinbase", settings)
    assert client.exchange == "coinbase"
    assert client.rest_url == "http://127.0.0.1:9", "the trailing slash is dropped"


def test_venue_options_set_fields_of_the_venues_own_section() -> None:
    settings = with_venue_options(Settings(), "coinbase", ws_url="ws://127.0.0.1:1")
    assert settings.venues["coinbase"].ws_url == "ws://127.0.0.1:1"
    with pytest.raises(ValueError, match="source 'coinbase' has no setting rest_uri .*its settings: ws_url, rest_url"):
        with_venue_options(Settings(), "coinbase", rest_uri="http://x")
    with pytest.raises(ValueError, match="source 'simulator' has no setting ws_url .*none"):
        with_venue_options(Settings(), "simulator", ws_url="ws://x")


def test_the_template_is_a_valid_venue_that_is_not_registered() -> None:
    spec = _template.VENUE
    assert spec.name not in SOURCES
    adapter = spec.adapter(Settings())
    assert isinstance(adapter, ExchangeAdapter) and adapter.name == spec.name


# ------------------------------------------------------------------ the mode set, defined once


def test_settings_cli_and_dagster_take_their_modes_from_the_one_enum() -> None:
    from tradestream_assets.resources import ExchangeResource

    assert IngestionSettings.model_fields["mode"].annotation is IngestMode
    assert typing.get_args(ExchangeResource.model_fields["mode"].annotation)[0] is IngestMode
    for mode in IngestMode:
        assert f"{mode} = " in mode_help()
    assert ExchangeResource.model_fields["mode"].description.startswith(mode_help())
    assert "coinbase" in ExchangeResource.model_fields["exchange"].description


def test_the_cli_offers_every_mode_and_refuses_others_by_name() -> None:
    from typer.testing import CliRunner

    from tradestream_cli.main import app

    result = CliRunner().invoke(app, ["ingest", "--help"], env={"COLUMNS": "400"})
    help_text = " ".join(result.stdout.split())
    assert mode_help() in help_text
    assert "coinbase" in help_text.split("--exchange", 1)[1]
    result = CliRunner().invoke(app, ["ingest", "--mode", "paper"])
    assert result.exit_code != 0 and "'paper' is not one of dry, wet, replay" in result.stderr


def test_the_charts_ingest_modes_are_the_registrys_cluster_modes() -> None:
    # The chart cannot import Python: its enum and its template check are held equal to the registry here.
    schema = json.loads((REPO / "helm" / "values.schema.json").read_text())
    enum = schema["properties"]["dataIngestion"]["properties"]["runMode"]["enum"]
    assert sorted(enum) == sorted(mode.value for mode in CLUSTER_MODES)
    helpers = (REPO / "helm" / "templates" / "_helpers.tpl").read_text()
    (listed,) = re.findall(r'\$ingestModes := list ((?:"\w+" ?)+)', helpers)
    assert sorted(re.findall(r'"(\w+)"', listed)) == sorted(mode.value for mode in CLUSTER_MODES)
    assert IngestMode.REPLAY not in CLUSTER_MODES, "a cluster has no local file to replay"
