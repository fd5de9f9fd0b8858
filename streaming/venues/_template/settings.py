"""The ``[template]`` settings section (environment ``TRADESTREAM_TEMPLATE_*``): what only this venue needs.

Pairs, timing and validation bounds are shared and live in ``[ingestion]``; put here what
differs per venue (URLs; later API keys as ``SecretStr``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tradestream.settings import SettingsSection, WebSocketUrl


class TemplateSettings(SettingsSection):
    section: ClassVar[str] = "template"
    model_config = SettingsConfigDict(env_prefix="TRADESTREAM_TEMPLATE_", extra="forbid")

    ws_url: WebSocketUrl = Field("wss://stream.example.com/ws", description="Public trades WebSocket URL.")
