"""The live adapter: connect, subscribe, read, hand trades to the sink; reconnect with backoff.

``venues/coinbase/live.py`` is the worked example of the connection loop (backoff after
drops, stale-connection timeout, sequence gaps, closing the socket on stop).
"""

from __future__ import annotations

import asyncio

from streaming.ingestion.adapter import ExchangeAdapter, TradeSink
from streaming.venues._template.parsing import EXCHANGE
from streaming.venues._template.settings import TemplateSettings
from tradestream.ingest.pairs import pair_source_from_settings
from tradestream.settings import Settings


class TemplateAdapter(ExchangeAdapter):
    name = EXCHANGE
    deduplicate = True   # live venues replay recent trades after a (re)subscribe

    def __init__(self, ws_url: str, pairs: list[str]):
        self.ws_url = ws_url
        self.pairs = pairs

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateAdapter:
        return cls(settings.venue(TemplateSettings).ws_url, pair_source_from_settings(settings.ingestion).pairs())

    async def run(self, sink: TradeSink, stop: asyncio.Event) -> None:
        # Per connection: send parsing.subscribe_request(pairs); for each message call sink.frame_received(),
        # parsing.parse_message(...), then sink.rejected(r) for each rejection and sink.trades(trades).
        raise NotImplementedError("copy venues/_template to a venue of its own and write its connection loop")
