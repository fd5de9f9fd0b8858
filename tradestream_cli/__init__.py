"""The `tradestream` command line: one verb per job, on top of every package."""
