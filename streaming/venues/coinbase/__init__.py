"""Coinbase, the live exchange of wet mode: the Advanced Trade WebSocket ``market_trades`` feed.

- ``settings.py``: the ``[coinbase]`` section (``TRADESTREAM_COINBASE_WS_URL``).
- ``parsing.py``: pure: the subscribe requests we send, frames -> ``TradeRecord`` / ``Rejection``.
- ``live.py``: the WebSocket client, an ``ExchangeAdapter`` (connections, reconnects, sequence gaps).
- ``history.py``: the Exchange REST API's trades (by id) and candles: history imports and the
  repair of gaps the live stream left (``Capability.HISTORY``).
- ``execution.py``: order placement (issue 13).
"""

from streaming.venues.coinbase.history import history_client
from streaming.venues.coinbase.live import CoinbaseAdapter
from streaming.venues.coinbase.settings import CoinbaseSettings
from streaming.venues.spec import Capability, VenueSpec
from tradestream.settings import IngestMode

VENUE = VenueSpec(
    name=CoinbaseAdapter.name, mode=IngestMode.WET, description="Coinbase Advanced Trade WebSocket (market_trades)",
    adapter=CoinbaseAdapter.from_settings, settings=CoinbaseSettings,
    capabilities=frozenset({Capability.LIVE_TRADES, Capability.HISTORY}), history=history_client)
