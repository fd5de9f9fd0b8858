"""Market history from an exchange's REST API: what the import holds and how it is judged complete.

The core half of history imports (no network, no Dagster): ``venue.py`` (what a venue's
REST history client offers, as a protocol the runner in ``streaming/history`` calls),
``ids.py`` (trade-id spans: what is held, what is missing), ``catalog.py`` (the DuckDB
tables that make an import resumable and checkable: coverage, days, gaps). Trades land
in the platform's ``trades`` table and candles in ``candles`` (``tradestream.store``);
candles are folded by ``tradestream.candles.batch``. docs/history.md describes the whole.
"""
