"""The TradeStream code location: every asset, check, job, sensor and schedule, assembled once."""

from __future__ import annotations

import dagster as dg

from tradestream_assets.resources import RESOURCES
from tradestream_assets.streams.assets import STREAM_ASSETS, STREAM_JOBS
from tradestream_assets.streams.checks import STREAM_CHECKS
from tradestream_assets.streams.sensors import stream_supervisor
from tradestream_assets.warehouse.assets import WAREHOUSE_ASSETS
from tradestream_assets.warehouse.checks import WAREHOUSE_CHECKS
from tradestream_assets.warehouse.jobs import warehouse_job
from tradestream_assets.warehouse.schedules import fresh_partitions, hourly_warehouse

defs = dg.Definitions(
    assets=[*STREAM_ASSETS, *WAREHOUSE_ASSETS],
    asset_checks=[*STREAM_CHECKS, *WAREHOUSE_CHECKS],
    jobs=[*STREAM_JOBS.values(), warehouse_job],
    sensors=[stream_supervisor, fresh_partitions],
    schedules=[hourly_warehouse],
    resources=RESOURCES,
)
