"""TradeStream on Dagster: streams, the DuckDB warehouse and research, orchestrated."""
