"""Where the list of currency pairs comes from.

Today the pairs are configured (``TRADESTREAM_INGEST_PRODUCTS``). A source such as "top
N by market cap, intersected with what the exchange lists" (what the original
TradeStream did) implements :class:`PairSource` and is chosen in
:func:`pair_source_from_settings`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tradestream.settings import IngestionSettings


@runtime_checkable
class PairSource(Protocol):
    """Supplies the currency pairs to ingest, e.g. ``["BTC-USD", "ETH-USD"]``."""

    def pairs(self) -> list[str]: ...


class ConfiguredPairs:
    """The pairs named in settings, in their order, without repeats."""

    def __init__(self, pairs: Sequence[str]):
        unique = list(dict.fromkeys(pairs))
        if not unique:
            raise ValueError("no currency pairs configured; set TRADESTREAM_INGEST_PRODUCTS or pass --products")
        self._pairs = unique

    def pairs(self) -> list[str]:
        return list(self._pairs)


def pair_source_from_settings(settings: IngestionSettings) -> PairSource:
    return ConfiguredPairs(settings.products)


def split_into_connections(pairs: Sequence[str], per_connection: int) -> list[list[str]]:
    """Consecutive groups of at most ``per_connection`` pairs, one per WebSocket connection."""
    if per_connection < 1:
        raise ValueError(f"products_per_connection={per_connection} must be >= 1")
    return [list(pairs[i:i + per_connection]) for i in range(0, len(pairs), per_connection)]
