"""Command-line options -> :class:`Settings`, the same for ``tradestream ingest`` and
``python -m streaming.ingestion`` (the entry point the stream supervisor and the chart start)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from streaming.venues.registry import with_venue_options
from tradestream.settings import IngestionSettings, Settings


class InvalidOption(ValueError):
    """An option's value is refused; the message names the option and the value."""


def apply_options(settings: Settings, *, ws_url: str | None = None, **ingestion: Any) -> Settings:
    """``settings`` with the given ``[ingestion]`` fields (``None`` = not given, so the environment and the
    config file decide) and ``ws_url`` set on the live exchange's own section (``--ws-url``)."""
    given = {name: value for name, value in ingestion.items() if value is not None}
    try:
        section = IngestionSettings(**given)
        settings = settings.model_copy(update={"ingestion": section})
        if ws_url is not None:
            settings = with_venue_options(settings, section.exchange, ws_url=ws_url)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidOption(f"invalid option {where}={first.get('input')!r}: {first['msg']}") from None
    return settings
