"""Jobs of the research area: the nightly optimization per pair, and refreshing the live config."""

import dagster as dg

from tradestream_assets.partitions import pair_partitions
from tradestream_assets.research.assets import live_strategy_config, strategy_optimization, walk_forward_report

optimization_job = dg.define_asset_job(
    "optimization_job", selection=dg.AssetSelection.assets(strategy_optimization, walk_forward_report),
    partitions_def=pair_partitions, tags={"dagster/max_runtime": str(4 * 3600)},
    description="Optimize the candidate strategies of one pair and validate them walk-forward.")

live_config_job = dg.define_asset_job(
    "live_config_job", selection=dg.AssetSelection.assets(live_strategy_config),
    tags={"dagster/max_runtime": "600"},
    description="Rewrite the live strategy config from the latest walk-forward reports.")
