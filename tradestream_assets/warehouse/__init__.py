"""The DuckDB warehouse: hourly partitions of trades, candles and signals from Kafka."""
