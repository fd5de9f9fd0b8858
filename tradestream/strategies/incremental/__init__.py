"""The incremental live engine: every indicator advances one bar at a time (see kernels.py)."""
