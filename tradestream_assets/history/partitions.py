"""History partitions: one per UTC day and pair, from TRADESTREAM_HISTORY_START (default 2025-01-01) to yesterday."""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

from tradestream_assets.partitions import pair_partitions_def

DEFAULT_HISTORY_START = "2025-01-01"


def history_start() -> str:
    """First day a user can backfill: TRADESTREAM_HISTORY_START (YYYY-MM-DD) or 2025-01-01."""
    value = os.environ.get("TRADESTREAM_HISTORY_START", DEFAULT_HISTORY_START)
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"TRADESTREAM_HISTORY_START={value!r} must look like 2025-01-31") from None
    return value


DATE, PAIR = "date", "pair"

#: day x pair: the Launchpad backfills a range of days for some pairs, each partition its own run (the
#: backfill page shows every one), so one venue hiccup costs one day of one pair, not the whole range.
history_partitions = dg.MultiPartitionsDefinition({
    DATE: dg.DailyPartitionsDefinition(start_date=history_start(), timezone="UTC"),
    PAIR: pair_partitions_def(),
})
