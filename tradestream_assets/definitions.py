"""The TradeStream code location: every asset, check, job, sensor and schedule, assembled once.

Areas (one folder each): ``streams`` (the long-running jobs and their supervisor),
``warehouse`` (hourly DuckDB partitions of trades, candles, signals and their checks),
``research`` (backtests, optimization, walk-forward, the live strategy config), ``history``
(exchange history over REST, day x pair partitions, and its completeness check), ``execution`` (the
executor's orders, fills, positions and risk events, the portfolio, its parity check, the kill switch),
``alerts`` (failed checks and halted accounts to Slack, Telegram, e-mail, webhooks).
"""

import dagster as dg

from tradestream_assets.alerts.sensors import account_halt_alerts, failed_check_alerts
from tradestream_assets.execution.assets import EXECUTION_ASSETS
from tradestream_assets.execution.checks import EXECUTION_CHECKS
from tradestream_assets.execution.jobs import hourly_portfolio, kill_switch, portfolio_job
from tradestream_assets.history.assets import HISTORY_ASSETS
from tradestream_assets.history.checks import HISTORY_CHECKS
from tradestream_assets.research.assets import RESEARCH_ASSETS
from tradestream_assets.research.backtest import backtest, backtest_results
from tradestream_assets.research.checks import RESEARCH_CHECKS
from tradestream_assets.research.jobs import live_config_job, optimization_job
from tradestream_assets.research.schedules import live_config_on_new_reports, nightly_optimization
from tradestream_assets.resources import RESOURCES
from tradestream_assets.streams.assets import STREAM_ASSETS, streams_job
from tradestream_assets.streams.checks import STREAM_CHECKS
from tradestream_assets.streams.sensors import stream_supervisor
from tradestream_assets.warehouse.assets import WAREHOUSE_ASSETS
from tradestream_assets.warehouse.checks import WAREHOUSE_CHECKS
from tradestream_assets.warehouse.jobs import warehouse_job
from tradestream_assets.warehouse.schedules import fresh_partitions, hourly_warehouse

defs = dg.Definitions(
    assets=[*STREAM_ASSETS, *WAREHOUSE_ASSETS, *EXECUTION_ASSETS, *RESEARCH_ASSETS, backtest_results,
            *HISTORY_ASSETS],
    asset_checks=[*STREAM_CHECKS, *WAREHOUSE_CHECKS, *EXECUTION_CHECKS, *RESEARCH_CHECKS, *HISTORY_CHECKS],
    jobs=[streams_job, warehouse_job, optimization_job, live_config_job, backtest, kill_switch, portfolio_job],
    sensors=[stream_supervisor, fresh_partitions, live_config_on_new_reports, failed_check_alerts,
             account_halt_alerts],
    schedules=[hourly_warehouse, nightly_optimization, hourly_portfolio],
    resources=RESOURCES,
    # steps run inside the run's own process: a subprocess per step costs seconds of imports each, and the
    # steps of one run are serial anyway (one DuckDB writer)
    executor=dg.in_process_executor,
)
