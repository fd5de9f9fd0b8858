"""TradeStream on Dagster: streams, the DuckDB warehouse and research, orchestrated."""

import warnings

import dagster as dg

# Two Dagster features this code location relies on on purpose (docs/dagster.md): single-run
# backfills of the hourly assets (beta) and partitioned asset checks (preview). Said once here
# rather than on every import by every run worker.
warnings.filterwarnings("ignore", category=dg.BetaWarning, message="Parameter `backfill_policy`")
warnings.filterwarnings("ignore", category=dg.PreviewWarning,
                        message="Specifying a partitions_def on an AssetCheckSpec")
