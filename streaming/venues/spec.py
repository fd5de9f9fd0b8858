"""What a source of trades tells the registry about itself: a :class:`VenueSpec`.

Kept apart from ``registry.py`` so a venue's ``__init__`` can declare its spec without
importing the registry, which imports every venue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from streaming.ingestion.adapter import ExchangeAdapter
from tradestream.history.venue import HistoryClient
from tradestream.settings import IngestMode, Settings, SettingsSection


class Capability(StrEnum):
    """What a source can do beyond being named; later issues add the modules behind the last two."""

    LIVE_TRADES = "live trades"          #: streams trades into ingestion as they come (``adapter``)
    HISTORY = "history"                  #: past trades and candles over REST, gap repair (issue 12)
    ORDER_PLACEMENT = "order placement"  #: places orders (issue 13)


class MissingCapability(ValueError):
    """A source was asked for something it cannot do."""


@dataclass(frozen=True)
class VenueSpec:
    """One source of trades, registered under ``name``.

    ``mode`` is the kind of source, and the ``--mode`` that selects it: ``wet`` a live
    exchange (chosen among the wet sources by ``ingestion.exchange``), ``dry`` a simulated
    market, ``replay`` a file.
    """

    #: The source's name: ``--exchange`` value of a live exchange, the adapter's ``name``,
    #: the dead-letter source ``ingest:<name>``.
    name: str
    mode: IngestMode
    #: One line for ``--help``, the Dagster resource and the docs.
    description: str
    #: Builds the source's :class:`ExchangeAdapter` from the settings (its own section included).
    adapter: Callable[[Settings], ExchangeAdapter]
    #: The venue's own settings section (``[coinbase]``, ``TRADESTREAM_COINBASE_*``), if it has one;
    #: the simulator and replay read the ``[ingestion]`` section only.
    settings: type[SettingsSection] | None = None
    capabilities: frozenset[Capability] = frozenset({Capability.LIVE_TRADES})
    #: Builds the venue's REST history client (``Capability.HISTORY``: imports and live gap repair).
    history: Callable[[Settings], HistoryClient] | None = None

    def require(self, capability: Capability) -> None:
        """Refuse, by name, to use this source for something it cannot do."""
        if capability not in self.capabilities:
            offers = ", ".join(sorted(self.capabilities)) or "nothing"
            raise MissingCapability(f"source {self.name!r} has no {capability} (it offers: {offers})")
