"""The sources of trades, one folder each (the way NautilusTrader keeps ``adapters/<venue>/``), and
the registry that names them (``registry.py``). What a new venue adds: ``README.md``."""
