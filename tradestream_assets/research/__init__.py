"""Research: backtests, optimization, walk-forward, and the live strategy config they produce."""
