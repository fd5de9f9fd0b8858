"""The ``[coinbase]`` section lives with the venue and loads like every section of the settings."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from streaming.venues.coinbase.settings import DEFAULT_REST_URL, DEFAULT_WS_URL, CoinbaseSettings
from tradestream.settings import Settings


@pytest.fixture(autouse=True)
def no_coinbase_environment(monkeypatch):
    monkeypatch.delenv("TRADESTREAM_COINBASE_WS_URL", raising=False)
    monkeypatch.delenv("TRADESTREAM_COINBASE_REST_URL", raising=False)
    monkeypatch.delenv("TRADESTREAM_CONFIG", raising=False)


def test_defaults_then_config_file_then_environment_then_explicit_values(tmp_path, monkeypatch) -> None:
    assert Settings().venue(CoinbaseSettings).ws_url == DEFAULT_WS_URL
    config = tmp_path / "ts.toml"
    config.write_text('[coinbase]\nws_url = "ws://from-file:1"\n')
    monkeypatch.setenv("TRADESTREAM_CONFIG", str(config))
    assert Settings.load().venue(CoinbaseSettings).ws_url == "ws://from-file:1"
    monkeypatch.setenv("TRADESTREAM_COINBASE_WS_URL", "ws://from-env:2")
    settings = Settings.load()
    assert settings.venue(CoinbaseSettings).ws_url == "ws://from-env:2"
    explicit = settings.with_venue(CoinbaseSettings(ws_url="ws://explicit:3"))
    assert explicit.venue(CoinbaseSettings).ws_url == "ws://explicit:3"
    assert settings.venue(CoinbaseSettings).ws_url == "ws://from-env:2", "with_venue returns a copy"


def test_a_bad_url_is_refused_with_the_value_named(monkeypatch) -> None:
    monkeypatch.setenv("TRADESTREAM_COINBASE_WS_URL", "https://advanced-trade-ws.coinbase.com")
    with pytest.raises(ValidationError, match="websocket url 'https://advanced-trade-ws.coinbase.com' must start"):
        Settings().venue(CoinbaseSettings)


def test_the_rest_url_defaults_to_coinbase_exchange_and_must_be_http(monkeypatch) -> None:
    assert Settings().venue(CoinbaseSettings).rest_url == DEFAULT_REST_URL == "https://api.exchange.coinbase.com"
    monkeypatch.setenv("TRADESTREAM_COINBASE_REST_URL", "http://127.0.0.1:8080/")
    assert Settings().venue(CoinbaseSettings).rest_url == "http://127.0.0.1:8080"
    monkeypatch.setenv("TRADESTREAM_COINBASE_REST_URL", "wss://api.exchange.coinbase.com")
    with pytest.raises(ValidationError, match="REST url 'wss://api.exchange.coinbase.com' must start with http"):
        Settings().venue(CoinbaseSettings)


def test_an_unknown_field_in_the_config_files_section_is_refused(tmp_path, monkeypatch) -> None:
    config = tmp_path / "ts.toml"
    config.write_text('[coinbase]\nws_uri = "ws://typo:1"\n')
    monkeypatch.setenv("TRADESTREAM_CONFIG", str(config))
    with pytest.raises(ValidationError, match="ws_uri"):
        Settings.load().venue(CoinbaseSettings)


def test_the_core_settings_import_nothing_from_streaming() -> None:
    code = ("import sys, tradestream.settings; "
            "print([m for m in sys.modules if m.split('.')[0] in ('streaming', 'tradestream_assets', "
            "'tradestream_cli')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
