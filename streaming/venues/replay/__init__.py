"""Replay mode: a recorded trades file (``ingestion.replay_file``, ``--file``), in event-time order.

- ``reader.py``: pure: reads and validates CSV, Parquet or JSON-lines files.
- ``adapter.py``: the ``ExchangeAdapter`` that publishes them at the chosen speed.
"""

from streaming.venues.replay.adapter import ReplayAdapter
from streaming.venues.spec import VenueSpec
from tradestream.settings import IngestMode

VENUE = VenueSpec(name=ReplayAdapter.name, mode=IngestMode.REPLAY, description="a recorded trades file",
                  adapter=ReplayAdapter.from_settings)
