"""Market-data ingestion, the pure part: parsing and validating exchange input, the
trade record and its protobuf encoding, de-duplication, sequence-gap and reconnect
arithmetic, the market simulator and the replay-file reader.

The long-running side (WebSocket connections, the Kafka publisher, signal handling)
lives in ``streaming/ingestion``.
"""

from tradestream.ingest.trade import TRADE_SCHEMA, TRADE_SCHEMA_VERSION, TakerSide, TradeRecord
from tradestream.ingest.validation import InvalidInput, Rejection, RejectReason, TimeBounds

__all__ = ["TRADE_SCHEMA", "TRADE_SCHEMA_VERSION", "InvalidInput", "RejectReason", "Rejection", "TakerSide",
           "TimeBounds", "TradeRecord"]
