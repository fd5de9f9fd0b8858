"""THE registry of trade sources: a source name maps to its :class:`VenueSpec`.

The ingestion service builds its adapter here; the CLI's ``--mode``/``--exchange`` help, the
Dagster resource's description and (through a test) the chart's ``dataIngestion.runMode``
enum come from here too. Adding a venue is its folder next to this file plus one entry in
``_SPECS`` (see ``README.md``).

How the user's mode picks a source:

======== =====================================================================
dry      the ``simulator`` (the one dry source)
replay   the ``replay`` file reader (the one replay source)
wet      the live exchange named by ``ingestion.exchange`` (``--exchange``,
         ``TRADESTREAM_INGEST_EXCHANGE``; default ``coinbase``)
======== =====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from streaming.ingestion.adapter import ExchangeAdapter
from streaming.venues import coinbase, replay, simulator
from streaming.venues.spec import Capability, VenueSpec
from tradestream.history.venue import HistoryClient
from tradestream.settings import IngestionSettings, IngestMode, Settings

_SPECS: tuple[VenueSpec, ...] = (simulator.VENUE, replay.VENUE, coinbase.VENUE)

SOURCES: Mapping[str, VenueSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})

#: Modes a Kubernetes install can run (the chart's ``dataIngestion.runMode``): all but
#: replay, whose file is on the user's machine.
CLUSTER_MODES: tuple[IngestMode, ...] = tuple(mode for mode in IngestMode if mode is not IngestMode.REPLAY)


class UnknownSource(ValueError):
    """A source or exchange name the registry does not hold; the message lists those it does."""


def source(name: str) -> VenueSpec:
    """The source called ``name``."""
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownSource(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}") from None


def sources_for(mode: IngestMode) -> list[VenueSpec]:
    """The sources that serve ``mode``, in registration order."""
    return [spec for spec in SOURCES.values() if spec.mode is IngestMode(mode)]


def live_exchanges() -> list[str]:
    """Names the ``exchange`` setting accepts: the wet sources."""
    return [spec.name for spec in sources_for(IngestMode.WET)]


def source_for(ingestion: IngestionSettings) -> VenueSpec:
    """The source that ``ingestion.mode`` (and, in wet mode, ``ingestion.exchange``) selects."""
    mode = IngestMode(ingestion.mode)
    if mode is IngestMode.WET:
        spec = SOURCES.get(ingestion.exchange)
        if spec is None or spec.mode is not IngestMode.WET:
            raise UnknownSource(f"exchange {ingestion.exchange!r} is not a live exchange; set --exchange or "
                                f"TRADESTREAM_INGEST_EXCHANGE to one of: {', '.join(live_exchanges())}")
        return spec
    (spec,) = sources_for(mode)  # one source per non-live mode; tests/venues/test_registry.py pins it
    return spec


def build_adapter(settings: Settings) -> ExchangeAdapter:
    """The adapter of the source the settings select, configured from them."""
    spec = source_for(settings.ingestion)
    spec.require(Capability.LIVE_TRADES)
    return spec.adapter(settings)


def history_exchanges() -> list[str]:
    """Sources with a REST history (``tradestream history import --exchange``)."""
    return [spec.name for spec in SOURCES.values() if Capability.HISTORY in spec.capabilities]


def history_client(name: str, settings: Settings) -> HistoryClient:
    """The REST history client of exchange ``name``, configured from its settings section."""
    spec = source(name)
    spec.require(Capability.HISTORY)
    assert spec.history is not None, f"{name} declares {Capability.HISTORY} without a client"
    return spec.history(settings)


def with_venue_options(settings: Settings, name: str, **values: Any) -> Settings:
    """``settings`` with fields of source ``name``'s own section replaced, e.g. ``ws_url`` from ``--ws-url``.

    Fields not given keep their value (explicit, else environment, else config file, else default).
    """
    spec = source(name)
    fields = spec.settings.model_fields if spec.settings is not None else {}
    unknown = [field for field in values if field not in fields]
    if unknown:
        raise ValueError(f"source {name!r} has no setting {', '.join(unknown)} "
                         f"(its settings: {', '.join(fields) or 'none'})")
    if spec.settings is None or not values:
        return settings
    current = settings.venue(spec.settings)
    return settings.with_venue(spec.settings(**{**current.model_dump(), **values}))


def mode_help() -> str:
    """One line on what each mode reads, e.g. for ``--mode``'s help."""
    parts = []
    for mode in IngestMode:
        specs = sources_for(mode)
        if mode is IngestMode.WET:
            parts.append(f"{mode} = a live exchange ({', '.join(spec.name for spec in specs)}; "
                         "TRADESTREAM_INGEST_EXCHANGE)")
        else:
            parts.append(f"{mode} = {'; '.join(spec.description for spec in specs)}")
    return ", ".join(parts)
