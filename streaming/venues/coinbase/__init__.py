"""Coinbase, the live exchange of wet mode: the Advanced Trade WebSocket ``market_trades`` feed.

- ``settings.py``: the ``[coinbase]`` section (``TRADESTREAM_COINBASE_WS_URL``).
- ``parsing.py``: pure: the subscribe requests we send, frames -> ``TradeRecord`` / ``Rejection``.
- ``live.py``: the WebSocket client, an ``ExchangeAdapter`` (connections, reconnects, sequence gaps).
- ``execution.py``: live orders of the executor (``Capability.ORDER_PLACEMENT``): CDP JWT, market
  IOC orders, polling, reconciliation.

Room is left for ``history.py`` (REST trades and candles: history import and gap repair,
issue 12, ``Capability.HISTORY``).
"""

from streaming.venues.coinbase.execution import CoinbaseExecution
from streaming.venues.coinbase.live import CoinbaseAdapter
from streaming.venues.coinbase.settings import CoinbaseSettings
from streaming.venues.spec import Capability, VenueSpec
from tradestream.settings import IngestMode

VENUE = VenueSpec(
    name=CoinbaseAdapter.name, mode=IngestMode.WET, description="Coinbase Advanced Trade WebSocket (market_trades)",
    adapter=CoinbaseAdapter.from_settings, settings=CoinbaseSettings,
    capabilities=frozenset({Capability.LIVE_TRADES, Capability.ORDER_PLACEMENT}),
    orders=CoinbaseExecution.from_settings)
