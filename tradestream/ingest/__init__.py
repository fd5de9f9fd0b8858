"""Market-data ingestion, the pure part every source shares: validating exchange input, the
trade record and its protobuf encoding, de-duplication, sequence-gap and reconnect
arithmetic, pair sources.

Each source's own parsing (Coinbase's frames, the simulator's market, the replay-file
reader) lives with its client in ``streaming/venues/<source>/``; the
long-running side (connections, the Kafka publisher, signal handling) in ``streaming/ingestion``.
"""

from tradestream.ingest.trade import TRADE_SCHEMA, TRADE_SCHEMA_VERSION, TakerSide, TradeRecord
from tradestream.ingest.validation import InvalidInput, Rejection, RejectReason, TimeBounds

__all__ = ["TRADE_SCHEMA", "TRADE_SCHEMA_VERSION", "InvalidInput", "RejectReason", "Rejection", "TakerSide",
           "TimeBounds", "TradeRecord"]
