"""The TradeStream code location: every asset, check, job, sensor and schedule, assembled once."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions(assets=[])
