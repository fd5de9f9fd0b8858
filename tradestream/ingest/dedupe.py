"""Dropping trades already seen, with bounded memory.

Coinbase replays a snapshot of recent trades after every (re)subscribe, so a reconnect
re-delivers trades that were published minutes ago. The window remembers the newest
``capacity`` trade ids per pair: far more than a snapshot holds, and a fixed amount of
memory however long the process runs.
"""

from __future__ import annotations

from collections import OrderedDict


class TradeDeduplicator:
    """Remembers the last ``capacity`` trade ids of each pair (first-seen order)."""

    def __init__(self, capacity_per_pair: int = 100_000):
        if capacity_per_pair < 1:
            raise ValueError(f"capacity_per_pair={capacity_per_pair} must be >= 1")
        self.capacity_per_pair = capacity_per_pair
        self._seen: dict[str, OrderedDict[str, None]] = {}

    def is_new(self, currency_pair: str, trade_id: str) -> bool:
        """True the first time (pair, trade_id) is offered, False for a repeat within the window."""
        window = self._seen.get(currency_pair)
        if window is None:
            window = self._seen[currency_pair] = OrderedDict()
        if trade_id in window:
            return False
        window[trade_id] = None
        if len(window) > self.capacity_per_pair:
            window.popitem(last=False)
        return True

    def __len__(self) -> int:
        return sum(len(window) for window in self._seen.values())
