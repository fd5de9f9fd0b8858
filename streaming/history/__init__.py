"""History import: a venue's REST history into DuckDB (``importer.py``); ``tradestream history`` and the
Dagster ``market_history`` asset run it. The core pieces are in ``tradestream/history``."""
