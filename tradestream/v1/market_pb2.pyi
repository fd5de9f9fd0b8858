from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TakerSide(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAKER_SIDE_UNSPECIFIED: _ClassVar[TakerSide]
    TAKER_SIDE_BUY: _ClassVar[TakerSide]
    TAKER_SIDE_SELL: _ClassVar[TakerSide]
TAKER_SIDE_UNSPECIFIED: TakerSide
TAKER_SIDE_BUY: TakerSide
TAKER_SIDE_SELL: TakerSide

class Trade(_message.Message):
    __slots__ = ("exchange", "currency_pair", "trade_id", "price", "size", "taker_side", "event_time", "ingest_time", "repaired")
    EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    TAKER_SIDE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    INGEST_TIME_FIELD_NUMBER: _ClassVar[int]
    REPAIRED_FIELD_NUMBER: _ClassVar[int]
    exchange: str
    currency_pair: str
    trade_id: str
    price: float
    size: float
    taker_side: TakerSide
    event_time: _timestamp_pb2.Timestamp
    ingest_time: _timestamp_pb2.Timestamp
    repaired: bool
    def __init__(self, exchange: _Optional[str] = ..., currency_pair: _Optional[str] = ..., trade_id: _Optional[str] = ..., price: _Optional[float] = ..., size: _Optional[float] = ..., taker_side: _Optional[_Union[TakerSide, str]] = ..., event_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., ingest_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., repaired: bool = ...) -> None: ...

class Candle(_message.Message):
    __slots__ = ("currency_pair", "timeframe", "window_start", "window_end", "open", "high", "low", "close", "volume", "vwap", "trade_count", "filled", "revision", "emitted_at")
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    VWAP_FIELD_NUMBER: _ClassVar[int]
    TRADE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FILLED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    EMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    currency_pair: str
    timeframe: str
    window_start: _timestamp_pb2.Timestamp
    window_end: _timestamp_pb2.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    trade_count: int
    filled: bool
    revision: int
    emitted_at: _timestamp_pb2.Timestamp
    def __init__(self, currency_pair: _Optional[str] = ..., timeframe: _Optional[str] = ..., window_start: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., window_end: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., close: _Optional[float] = ..., volume: _Optional[float] = ..., vwap: _Optional[float] = ..., trade_count: _Optional[int] = ..., filled: bool = ..., revision: _Optional[int] = ..., emitted_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("source", "reason", "detail", "payload", "original_topic", "original_partition", "original_offset", "rejected_at")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_TOPIC_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_PARTITION_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_OFFSET_FIELD_NUMBER: _ClassVar[int]
    REJECTED_AT_FIELD_NUMBER: _ClassVar[int]
    source: str
    reason: str
    detail: str
    payload: bytes
    original_topic: str
    original_partition: int
    original_offset: int
    rejected_at: _timestamp_pb2.Timestamp
    def __init__(self, source: _Optional[str] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ..., payload: _Optional[bytes] = ..., original_topic: _Optional[str] = ..., original_partition: _Optional[int] = ..., original_offset: _Optional[int] = ..., rejected_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
