"""The ``[coinbase]`` settings section (environment ``TRADESTREAM_COINBASE_*``).

The CDP API key of live orders is not a setting: it comes only from the environment or a
mounted Secret (``execution.CdpCredentials.from_environment``), never from a config file.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from tradestream.settings import SettingsSection, WebSocketUrl

DEFAULT_WS_URL = "wss://advanced-trade-ws.coinbase.com"
DEFAULT_REST_URL = "https://api.coinbase.com"


class CoinbaseSettings(SettingsSection):
    section: ClassVar[str] = "coinbase"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_COINBASE_", extra="forbid")

    ws_url: WebSocketUrl = Field(DEFAULT_WS_URL, description="Advanced Trade WebSocket URL.")
    rest_url: str = Field(DEFAULT_REST_URL, description="Advanced Trade REST API (live orders of the executor).")
    rest_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one REST request.")
    order_poll_interval_s: float = Field(0.5, gt=0, le=60, description="Live orders: seconds between polls of "
                                                                        "an order until it is final.")

    @field_validator("rest_url")
    @classmethod
    def _rest_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"rest url {value!r} must start with http:// or https://")
        return value.rstrip("/")
