"""The long-running streams as assets: start/confirm, supervise, restart."""
