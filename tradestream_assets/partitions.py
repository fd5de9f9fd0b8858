"""Partitions shared by several areas: hours of market data, currency pairs."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from tradestream.settings import IngestionSettings

#: How far back hourly partitions start when TRADESTREAM_PARTITIONS_START is not set.
DEFAULT_HISTORY_DAYS = 3


def hourly_start() -> str:
    """First hourly partition: TRADESTREAM_PARTITIONS_START (YYYY-MM-DD[-HH:MM]) or a few days back.

    A recent start keeps the partition bar readable; backfills further back set the variable.
    """
    explicit = os.environ.get("TRADESTREAM_PARTITIONS_START")
    if explicit:
        for fmt in ("%Y-%m-%d-%H:%M", "%Y-%m-%d"):
            try:
                datetime.strptime(explicit, fmt)
            except ValueError:
                continue
            return explicit if fmt == "%Y-%m-%d-%H:%M" else f"{explicit}-00:00"
        raise ValueError(f"TRADESTREAM_PARTITIONS_START={explicit!r} must look like 2026-01-31 or 2026-01-31-06:00")
    day = (datetime.now(UTC) - timedelta(days=DEFAULT_HISTORY_DAYS)).date()
    return f"{day.isoformat()}-00:00"


# end_offset=1: the current, still open hour is a partition too, so `make run` shows fresh rows within minutes
hourly_partitions = dg.HourlyPartitionsDefinition(start_date=hourly_start(), timezone="UTC", end_offset=1)


def pair_partitions_def() -> dg.StaticPartitionsDefinition:
    return dg.StaticPartitionsDefinition(list(IngestionSettings().products))


pair_partitions = pair_partitions_def()
