"""The venues: one folder per source of market data and place to trade (the way NautilusTrader
keeps ``adapters/<venue>/``), and the registry that names them (``registry.py``).

A venue folder holds everything of one venue: its settings section, pure parsing, the live
trade stream (``live.py``, used by :mod:`streaming.ingestion`), and where the venue offers them
its REST history (``history.py``) and order placement (``execution.py``). What a new venue
adds: ``README.md``.
"""
