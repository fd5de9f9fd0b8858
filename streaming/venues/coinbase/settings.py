"""The ``[coinbase]`` settings section (environment ``TRADESTREAM_COINBASE_*``)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field
from pydantic_settings import SettingsConfigDict

from tradestream.settings import SettingsSection, WebSocketUrl

DEFAULT_WS_URL = "wss://advanced-trade-ws.coinbase.com"
DEFAULT_REST_URL = "https://api.exchange.coinbase.com"


def check_http_url(value: str) -> str:
    """``value`` without a trailing slash if it is an http:// or https:// URL; else an error naming it."""
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError(f"REST url {value!r} must start with http:// or https:// and name a host")
    return value.rstrip("/")


class CoinbaseSettings(SettingsSection):
    section: ClassVar[str] = "coinbase"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_COINBASE_", extra="forbid")

    ws_url: WebSocketUrl = Field(DEFAULT_WS_URL, description="Advanced Trade WebSocket URL.")
    rest_url: Annotated[str, AfterValidator(check_http_url)] = Field(
        DEFAULT_REST_URL, description="Coinbase Exchange public REST API (history import, gap repair); any "
                                      "Coinbase-compatible endpoint (`--rest-url`).")
    rest_rate_per_s: float = Field(10.0, gt=0, description="Requests per second; Coinbase allows 10 per IP.")
    rest_burst: int = Field(10, ge=1, description="Requests allowed at once after a quiet spell; Coinbase allows 15, "
                                                   "the rest is headroom for requests that arrive bunched.")
    rest_timeout_s: float = Field(15.0, gt=0, description="Timeout of one REST request.")
    rest_max_attempts: int = Field(6, ge=1, le=50,
                                   description="Tries of one request through 429s, 5xx and connection errors.")
