"""The ``[coinbase]`` settings section (environment ``TRADESTREAM_COINBASE_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tradestream.settings import SettingsSection, WebSocketUrl

DEFAULT_WS_URL = "wss://advanced-trade-ws.coinbase.com"


class CoinbaseSettings(SettingsSection):
    section: ClassVar[str] = "coinbase"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_COINBASE_", extra="forbid")

    ws_url: WebSocketUrl = Field(DEFAULT_WS_URL, description="Advanced Trade WebSocket URL.")
