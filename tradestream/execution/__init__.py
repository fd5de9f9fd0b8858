"""Order execution: accounts, the risk engine, fill models and the executor state machine.

Pure and deterministic: no Kafka, no clock, no loops. The execution stream
(``streaming/execution/``) feeds signals, trades and halt commands into ``Executor``
and publishes what it returns; docs/execution.md explains the rules.
"""

from tradestream.execution.accounts import (
    DEFAULT_ACCOUNTS_FILE,
    AccountConfig,
    AccountsConfig,
    AccountsConfigError,
    Allocation,
    AllocationConfig,
    RiskLimits,
    load_accounts,
    parse_accounts,
    reload_accounts,
)
from tradestream.execution.executor import (
    SNAPSHOT_FORMAT,
    Executor,
    Outputs,
    ReloadReport,
    VenueFill,
    VenueReport,
    client_order_id,
)

__all__ = [
    "DEFAULT_ACCOUNTS_FILE", "SNAPSHOT_FORMAT", "AccountConfig", "AccountsConfig", "AccountsConfigError",
    "Allocation", "AllocationConfig", "Executor", "Outputs", "ReloadReport", "RiskLimits", "VenueFill",
    "VenueReport", "client_order_id", "load_accounts", "parse_accounts", "reload_accounts",
]
