"""The warehouse job: one hour of trades, candles and signals (with the candle checks), and of the executor's
orders, fills, positions and risk events."""

from __future__ import annotations

import dagster as dg

from tradestream_assets.execution.assets import EXECUTION_TABLE_ASSETS
from tradestream_assets.partitions import hourly_partitions
from tradestream_assets.warehouse.assets import WAREHOUSE_ASSETS

#: One warehouse run at a time (dagster.yaml limits this tag to 1); inside a run the writer pool serializes steps.
WRITER_TAG = "tradestream/duckdb-writer"

warehouse_job = dg.define_asset_job(
    "warehouse_job", selection=dg.AssetSelection.assets(*WAREHOUSE_ASSETS, *EXECUTION_TABLE_ASSETS),
    partitions_def=hourly_partitions,
    tags={WRITER_TAG: "warehouse"},
    description="Materialize one hour of trades, candles, signals, orders, fills, positions and risk events into "
                "DuckDB from Kafka, with the candle checks.")
