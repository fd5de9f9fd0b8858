"""The execution area: what the executor did (hourly tables, portfolio), its parity check, the kill switch."""
