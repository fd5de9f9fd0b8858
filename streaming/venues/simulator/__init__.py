"""The simulated market of dry mode; its knobs are in the ``[ingestion]`` section (rate, seed, speed...).

- ``market.py``: pure: the seeded synthetic market (prices, sizes, arrival times, injected
  out-of-order, late and duplicate deliveries).
- ``adapter.py``: the ``ExchangeAdapter`` that emits the market's trades when they are due.
"""

from streaming.venues.simulator.adapter import SimulatorAdapter
from streaming.venues.spec import VenueSpec
from tradestream.settings import IngestMode

VENUE = VenueSpec(name=SimulatorAdapter.name, mode=IngestMode.DRY, description="the market simulator",
                  adapter=SimulatorAdapter.from_settings)
