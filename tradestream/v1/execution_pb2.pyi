from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tradestream.v1 import strategy_pb2 as _strategy_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OrderSide(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_SIDE_UNSPECIFIED: _ClassVar[OrderSide]
    ORDER_SIDE_BUY: _ClassVar[OrderSide]
    ORDER_SIDE_SELL: _ClassVar[OrderSide]

class OrderStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATUS_UNSPECIFIED: _ClassVar[OrderStatus]
    ORDER_STATUS_PENDING: _ClassVar[OrderStatus]
    ORDER_STATUS_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_PARTIALLY_FILLED: _ClassVar[OrderStatus]
    ORDER_STATUS_CANCELLED: _ClassVar[OrderStatus]
    ORDER_STATUS_REJECTED: _ClassVar[OrderStatus]

class FillModel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILL_MODEL_UNSPECIFIED: _ClassVar[FillModel]
    FILL_MODEL_CANDLE_CLOSE: _ClassVar[FillModel]
    FILL_MODEL_NEXT_TRADE: _ClassVar[FillModel]
    FILL_MODEL_VENUE: _ClassVar[FillModel]

class ExecutionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXECUTION_MODE_UNSPECIFIED: _ClassVar[ExecutionMode]
    EXECUTION_MODE_PAPER: _ClassVar[ExecutionMode]
    EXECUTION_MODE_LIVE: _ClassVar[ExecutionMode]

class AccountStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATUS_UNSPECIFIED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_ACTIVE: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_REDUCING: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_HALTED: _ClassVar[AccountStatus]

class RiskReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_REASON_UNSPECIFIED: _ClassVar[RiskReason]
    RISK_REASON_MAX_ORDER_NOTIONAL: _ClassVar[RiskReason]
    RISK_REASON_MAX_POSITION_NOTIONAL: _ClassVar[RiskReason]
    RISK_REASON_MAX_GROSS_EXPOSURE: _ClassVar[RiskReason]
    RISK_REASON_MAX_OPEN_POSITIONS: _ClassVar[RiskReason]
    RISK_REASON_DAILY_LOSS_LIMIT: _ClassVar[RiskReason]
    RISK_REASON_MAX_DRAWDOWN: _ClassVar[RiskReason]
    RISK_REASON_STALE_SIGNAL: _ClassVar[RiskReason]
    RISK_REASON_DUPLICATE_SIGNAL: _ClassVar[RiskReason]
    RISK_REASON_ORDER_RATE_LIMIT: _ClassVar[RiskReason]
    RISK_REASON_KILL_SWITCH: _ClassVar[RiskReason]
    RISK_REASON_MALFORMED: _ClassVar[RiskReason]
    RISK_REASON_UNKNOWN_STRATEGY: _ClassVar[RiskReason]
    RISK_REASON_UNKNOWN_PAIR: _ClassVar[RiskReason]
    RISK_REASON_UNKNOWN_ACCOUNT: _ClassVar[RiskReason]
    RISK_REASON_INVALID_PRICE: _ClassVar[RiskReason]
    RISK_REASON_SELL_WITHOUT_POSITION: _ClassVar[RiskReason]
    RISK_REASON_BUY_WITH_POSITION: _ClassVar[RiskReason]
    RISK_REASON_OUT_OF_ORDER: _ClassVar[RiskReason]
    RISK_REASON_REVISED_CANDLE: _ClassVar[RiskReason]
    RISK_REASON_VENUE_REJECTED: _ClassVar[RiskReason]
    RISK_REASON_OPERATOR: _ClassVar[RiskReason]
    RISK_REASON_ORDER_PENDING: _ClassVar[RiskReason]

class RiskEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_EVENT_KIND_UNSPECIFIED: _ClassVar[RiskEventKind]
    RISK_EVENT_KIND_ORDER_DENIED: _ClassVar[RiskEventKind]
    RISK_EVENT_KIND_INPUT_REJECTED: _ClassVar[RiskEventKind]
    RISK_EVENT_KIND_STATUS_CHANGED: _ClassVar[RiskEventKind]
    RISK_EVENT_KIND_HALTED: _ClassVar[RiskEventKind]
    RISK_EVENT_KIND_RESUMED: _ClassVar[RiskEventKind]
ORDER_SIDE_UNSPECIFIED: OrderSide
ORDER_SIDE_BUY: OrderSide
ORDER_SIDE_SELL: OrderSide
ORDER_STATUS_UNSPECIFIED: OrderStatus
ORDER_STATUS_PENDING: OrderStatus
ORDER_STATUS_FILLED: OrderStatus
ORDER_STATUS_PARTIALLY_FILLED: OrderStatus
ORDER_STATUS_CANCELLED: OrderStatus
ORDER_STATUS_REJECTED: OrderStatus
FILL_MODEL_UNSPECIFIED: FillModel
FILL_MODEL_CANDLE_CLOSE: FillModel
FILL_MODEL_NEXT_TRADE: FillModel
FILL_MODEL_VENUE: FillModel
EXECUTION_MODE_UNSPECIFIED: ExecutionMode
EXECUTION_MODE_PAPER: ExecutionMode
EXECUTION_MODE_LIVE: ExecutionMode
ACCOUNT_STATUS_UNSPECIFIED: AccountStatus
ACCOUNT_STATUS_ACTIVE: AccountStatus
ACCOUNT_STATUS_REDUCING: AccountStatus
ACCOUNT_STATUS_HALTED: AccountStatus
RISK_REASON_UNSPECIFIED: RiskReason
RISK_REASON_MAX_ORDER_NOTIONAL: RiskReason
RISK_REASON_MAX_POSITION_NOTIONAL: RiskReason
RISK_REASON_MAX_GROSS_EXPOSURE: RiskReason
RISK_REASON_MAX_OPEN_POSITIONS: RiskReason
RISK_REASON_DAILY_LOSS_LIMIT: RiskReason
RISK_REASON_MAX_DRAWDOWN: RiskReason
RISK_REASON_STALE_SIGNAL: RiskReason
RISK_REASON_DUPLICATE_SIGNAL: RiskReason
RISK_REASON_ORDER_RATE_LIMIT: RiskReason
RISK_REASON_KILL_SWITCH: RiskReason
RISK_REASON_MALFORMED: RiskReason
RISK_REASON_UNKNOWN_STRATEGY: RiskReason
RISK_REASON_UNKNOWN_PAIR: RiskReason
RISK_REASON_UNKNOWN_ACCOUNT: RiskReason
RISK_REASON_INVALID_PRICE: RiskReason
RISK_REASON_SELL_WITHOUT_POSITION: RiskReason
RISK_REASON_BUY_WITH_POSITION: RiskReason
RISK_REASON_OUT_OF_ORDER: RiskReason
RISK_REASON_REVISED_CANDLE: RiskReason
RISK_REASON_VENUE_REJECTED: RiskReason
RISK_REASON_OPERATOR: RiskReason
RISK_REASON_ORDER_PENDING: RiskReason
RISK_EVENT_KIND_UNSPECIFIED: RiskEventKind
RISK_EVENT_KIND_ORDER_DENIED: RiskEventKind
RISK_EVENT_KIND_INPUT_REJECTED: RiskEventKind
RISK_EVENT_KIND_STATUS_CHANGED: RiskEventKind
RISK_EVENT_KIND_HALTED: RiskEventKind
RISK_EVENT_KIND_RESUMED: RiskEventKind

class Order(_message.Message):
    __slots__ = ("client_order_id", "account", "allocation_id", "signal_id", "strategy", "currency_pair", "timeframe", "side", "status", "fill_model", "mode", "quote_size", "base_size", "reference_price", "candle_time", "signal_time", "created_at", "not_before", "venue_order_id", "detail", "updated_at")
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FILL_MODEL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    QUOTE_SIZE_FIELD_NUMBER: _ClassVar[int]
    BASE_SIZE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_PRICE_FIELD_NUMBER: _ClassVar[int]
    CANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    VENUE_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    client_order_id: str
    account: str
    allocation_id: str
    signal_id: str
    strategy: _strategy_pb2.StrategyParameters
    currency_pair: str
    timeframe: str
    side: OrderSide
    status: OrderStatus
    fill_model: FillModel
    mode: ExecutionMode
    quote_size: float
    base_size: float
    reference_price: float
    candle_time: _timestamp_pb2.Timestamp
    signal_time: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    not_before: _timestamp_pb2.Timestamp
    venue_order_id: str
    detail: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, client_order_id: _Optional[str] = ..., account: _Optional[str] = ..., allocation_id: _Optional[str] = ..., signal_id: _Optional[str] = ..., strategy: _Optional[_Union[_strategy_pb2.StrategyParameters, _Mapping]] = ..., currency_pair: _Optional[str] = ..., timeframe: _Optional[str] = ..., side: _Optional[_Union[OrderSide, str]] = ..., status: _Optional[_Union[OrderStatus, str]] = ..., fill_model: _Optional[_Union[FillModel, str]] = ..., mode: _Optional[_Union[ExecutionMode, str]] = ..., quote_size: _Optional[float] = ..., base_size: _Optional[float] = ..., reference_price: _Optional[float] = ..., candle_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., signal_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., not_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., venue_order_id: _Optional[str] = ..., detail: _Optional[str] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Fill(_message.Message):
    __slots__ = ("fill_id", "client_order_id", "account", "allocation_id", "signal_id", "currency_pair", "side", "price", "market_price", "size", "fee", "quote_amount", "realized_pnl", "fill_model", "fill_time", "candle_time", "trade_id", "timeframe", "strategy")
    FILL_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    MARKET_PRICE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    QUOTE_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    FILL_MODEL_FIELD_NUMBER: _ClassVar[int]
    FILL_TIME_FIELD_NUMBER: _ClassVar[int]
    CANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    fill_id: str
    client_order_id: str
    account: str
    allocation_id: str
    signal_id: str
    currency_pair: str
    side: OrderSide
    price: float
    market_price: float
    size: float
    fee: float
    quote_amount: float
    realized_pnl: float
    fill_model: FillModel
    fill_time: _timestamp_pb2.Timestamp
    candle_time: _timestamp_pb2.Timestamp
    trade_id: str
    timeframe: str
    strategy: _strategy_pb2.StrategyParameters
    def __init__(self, fill_id: _Optional[str] = ..., client_order_id: _Optional[str] = ..., account: _Optional[str] = ..., allocation_id: _Optional[str] = ..., signal_id: _Optional[str] = ..., currency_pair: _Optional[str] = ..., side: _Optional[_Union[OrderSide, str]] = ..., price: _Optional[float] = ..., market_price: _Optional[float] = ..., size: _Optional[float] = ..., fee: _Optional[float] = ..., quote_amount: _Optional[float] = ..., realized_pnl: _Optional[float] = ..., fill_model: _Optional[_Union[FillModel, str]] = ..., fill_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., candle_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., trade_id: _Optional[str] = ..., timeframe: _Optional[str] = ..., strategy: _Optional[_Union[_strategy_pb2.StrategyParameters, _Mapping]] = ...) -> None: ...

class PositionSnapshot(_message.Message):
    __slots__ = ("account", "allocation_id", "strategy", "currency_pair", "timeframe", "units", "cash", "entry_price", "committed", "entry_fees", "mark_price", "equity", "realized_pnl", "closed_trades", "as_of", "last_fill_id", "starting_cash")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    UNITS_FIELD_NUMBER: _ClassVar[int]
    CASH_FIELD_NUMBER: _ClassVar[int]
    ENTRY_PRICE_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FEES_FIELD_NUMBER: _ClassVar[int]
    MARK_PRICE_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    REALIZED_PNL_FIELD_NUMBER: _ClassVar[int]
    CLOSED_TRADES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    LAST_FILL_ID_FIELD_NUMBER: _ClassVar[int]
    STARTING_CASH_FIELD_NUMBER: _ClassVar[int]
    account: str
    allocation_id: str
    strategy: _strategy_pb2.StrategyParameters
    currency_pair: str
    timeframe: str
    units: float
    cash: float
    entry_price: float
    committed: float
    entry_fees: float
    mark_price: float
    equity: float
    realized_pnl: float
    closed_trades: int
    as_of: _timestamp_pb2.Timestamp
    last_fill_id: str
    starting_cash: float
    def __init__(self, account: _Optional[str] = ..., allocation_id: _Optional[str] = ..., strategy: _Optional[_Union[_strategy_pb2.StrategyParameters, _Mapping]] = ..., currency_pair: _Optional[str] = ..., timeframe: _Optional[str] = ..., units: _Optional[float] = ..., cash: _Optional[float] = ..., entry_price: _Optional[float] = ..., committed: _Optional[float] = ..., entry_fees: _Optional[float] = ..., mark_price: _Optional[float] = ..., equity: _Optional[float] = ..., realized_pnl: _Optional[float] = ..., closed_trades: _Optional[int] = ..., as_of: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_fill_id: _Optional[str] = ..., starting_cash: _Optional[float] = ...) -> None: ...

class AccountState(_message.Message):
    __slots__ = ("account", "status", "status_reason", "halted", "equity", "peak_equity", "day_start_equity", "gross_exposure", "open_positions", "starting_cash", "as_of")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    HALTED_FIELD_NUMBER: _ClassVar[int]
    EQUITY_FIELD_NUMBER: _ClassVar[int]
    PEAK_EQUITY_FIELD_NUMBER: _ClassVar[int]
    DAY_START_EQUITY_FIELD_NUMBER: _ClassVar[int]
    GROSS_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    OPEN_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    STARTING_CASH_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    account: str
    status: AccountStatus
    status_reason: RiskReason
    halted: bool
    equity: float
    peak_equity: float
    day_start_equity: float
    gross_exposure: float
    open_positions: int
    starting_cash: float
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, account: _Optional[str] = ..., status: _Optional[_Union[AccountStatus, str]] = ..., status_reason: _Optional[_Union[RiskReason, str]] = ..., halted: bool = ..., equity: _Optional[float] = ..., peak_equity: _Optional[float] = ..., day_start_equity: _Optional[float] = ..., gross_exposure: _Optional[float] = ..., open_positions: _Optional[int] = ..., starting_cash: _Optional[float] = ..., as_of: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RiskEvent(_message.Message):
    __slots__ = ("event_id", "kind", "reason", "account", "allocation_id", "signal_id", "currency_pair", "detail", "value", "limit", "status", "previous_status", "event_time", "client_order_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    kind: RiskEventKind
    reason: RiskReason
    account: str
    allocation_id: str
    signal_id: str
    currency_pair: str
    detail: str
    value: float
    limit: float
    status: AccountStatus
    previous_status: AccountStatus
    event_time: _timestamp_pb2.Timestamp
    client_order_id: str
    def __init__(self, event_id: _Optional[str] = ..., kind: _Optional[_Union[RiskEventKind, str]] = ..., reason: _Optional[_Union[RiskReason, str]] = ..., account: _Optional[str] = ..., allocation_id: _Optional[str] = ..., signal_id: _Optional[str] = ..., currency_pair: _Optional[str] = ..., detail: _Optional[str] = ..., value: _Optional[float] = ..., limit: _Optional[float] = ..., status: _Optional[_Union[AccountStatus, str]] = ..., previous_status: _Optional[_Union[AccountStatus, str]] = ..., event_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., client_order_id: _Optional[str] = ...) -> None: ...

class HaltCommand(_message.Message):
    __slots__ = ("command_id", "account", "halt", "reason", "requested_by", "requested_at")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    HALT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    account: str
    halt: bool
    reason: str
    requested_by: str
    requested_at: _timestamp_pb2.Timestamp
    def __init__(self, command_id: _Optional[str] = ..., account: _Optional[str] = ..., halt: bool = ..., reason: _Optional[str] = ..., requested_by: _Optional[str] = ..., requested_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
