"""TEMPLATE, not registered: copy this folder to ``venues/<venue>/`` to add an exchange (see ../README.md).

Rename ``template``/``Template`` to the venue, fill in ``parsing.py`` and ``live.py``, then add
``<venue>.VENUE`` to ``_SPECS`` in ``registry.py``. Later files, as the venue gains them:
``history.py`` (REST history and gap repair, ``Capability.HISTORY``) and ``execution.py``
(order placement, ``Capability.ORDER_PLACEMENT``).
"""

from streaming.venues._template.live import TemplateAdapter
from streaming.venues._template.settings import TemplateSettings
from streaming.venues.spec import Capability, VenueSpec
from tradestream.settings import IngestMode

VENUE = VenueSpec(
    name=TemplateAdapter.name, mode=IngestMode.WET, description="Template exchange public trades WebSocket",
    adapter=TemplateAdapter.from_settings, settings=TemplateSettings,
    capabilities=frozenset({Capability.LIVE_TRADES}))
