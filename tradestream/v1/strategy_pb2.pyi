from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SignalType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_TYPE_UNSPECIFIED: _ClassVar[SignalType]
    SIGNAL_TYPE_BUY: _ClassVar[SignalType]
    SIGNAL_TYPE_SELL: _ClassVar[SignalType]
    SIGNAL_TYPE_STOP_LOSS: _ClassVar[SignalType]
    SIGNAL_TYPE_ERROR: _ClassVar[SignalType]
SIGNAL_TYPE_UNSPECIFIED: SignalType
SIGNAL_TYPE_BUY: SignalType
SIGNAL_TYPE_SELL: SignalType
SIGNAL_TYPE_STOP_LOSS: SignalType
SIGNAL_TYPE_ERROR: SignalType

class StrategyParameter(_message.Message):
    __slots__ = ("name", "int_value", "double_value", "string_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INT_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    int_value: int
    double_value: float
    string_value: str
    def __init__(self, name: _Optional[str] = ..., int_value: _Optional[int] = ..., double_value: _Optional[float] = ..., string_value: _Optional[str] = ...) -> None: ...

class StrategyParameters(_message.Message):
    __slots__ = ("strategy", "parameters")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    parameters: _containers.RepeatedCompositeFieldContainer[StrategyParameter]
    def __init__(self, strategy: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[StrategyParameter, _Mapping]]] = ...) -> None: ...

class Signal(_message.Message):
    __slots__ = ("type", "currency_pair", "timeframe", "candle_time", "price", "strategy", "reason", "emitted_at", "signal_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    CANDLE_TIME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_ID_FIELD_NUMBER: _ClassVar[int]
    type: SignalType
    currency_pair: str
    timeframe: str
    candle_time: _timestamp_pb2.Timestamp
    price: float
    strategy: StrategyParameters
    reason: str
    emitted_at: _timestamp_pb2.Timestamp
    signal_id: str
    def __init__(self, type: _Optional[_Union[SignalType, str]] = ..., currency_pair: _Optional[str] = ..., timeframe: _Optional[str] = ..., candle_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., price: _Optional[float] = ..., strategy: _Optional[_Union[StrategyParameters, _Mapping]] = ..., reason: _Optional[str] = ..., emitted_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., signal_id: _Optional[str] = ...) -> None: ...

class BacktestResult(_message.Message):
    __slots__ = ("strategy", "currency_pair", "timeframe", "start", "end", "cumulative_return", "annualized_return", "sharpe_ratio", "sortino_ratio", "calmar_ratio", "max_drawdown", "max_drawdown_duration_bars", "volatility", "win_rate", "profit_factor", "expectancy", "number_of_trades", "average_trade_duration_bars", "exposure", "alpha", "beta", "strategy_score", "final_equity", "bars")
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_PAIR_FIELD_NUMBER: _ClassVar[int]
    TIMEFRAME_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_RETURN_FIELD_NUMBER: _ClassVar[int]
    ANNUALIZED_RETURN_FIELD_NUMBER: _ClassVar[int]
    SHARPE_RATIO_FIELD_NUMBER: _ClassVar[int]
    SORTINO_RATIO_FIELD_NUMBER: _ClassVar[int]
    CALMAR_RATIO_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_FIELD_NUMBER: _ClassVar[int]
    MAX_DRAWDOWN_DURATION_BARS_FIELD_NUMBER: _ClassVar[int]
    VOLATILITY_FIELD_NUMBER: _ClassVar[int]
    WIN_RATE_FIELD_NUMBER: _ClassVar[int]
    PROFIT_FACTOR_FIELD_NUMBER: _ClassVar[int]
    EXPECTANCY_FIELD_NUMBER: _ClassVar[int]
    NUMBER_OF_TRADES_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_TRADE_DURATION_BARS_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    BETA_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_SCORE_FIELD_NUMBER: _ClassVar[int]
    FINAL_EQUITY_FIELD_NUMBER: _ClassVar[int]
    BARS_FIELD_NUMBER: _ClassVar[int]
    strategy: StrategyParameters
    currency_pair: str
    timeframe: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    cumulative_return: float
    annualized_return: float
    sharpe_ratio: float
    sortino_ratio: float
    calmar_ratio: float
    max_drawdown: float
    max_drawdown_duration_bars: float
    volatility: float
    win_rate: float
    profit_factor: float
    expectancy: float
    number_of_trades: int
    average_trade_duration_bars: float
    exposure: float
    alpha: float
    beta: float
    strategy_score: float
    final_equity: float
    bars: int
    def __init__(self, strategy: _Optional[_Union[StrategyParameters, _Mapping]] = ..., currency_pair: _Optional[str] = ..., timeframe: _Optional[str] = ..., start: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., cumulative_return: _Optional[float] = ..., annualized_return: _Optional[float] = ..., sharpe_ratio: _Optional[float] = ..., sortino_ratio: _Optional[float] = ..., calmar_ratio: _Optional[float] = ..., max_drawdown: _Optional[float] = ..., max_drawdown_duration_bars: _Optional[float] = ..., volatility: _Optional[float] = ..., win_rate: _Optional[float] = ..., profit_factor: _Optional[float] = ..., expectancy: _Optional[float] = ..., number_of_trades: _Optional[int] = ..., average_trade_duration_bars: _Optional[float] = ..., exposure: _Optional[float] = ..., alpha: _Optional[float] = ..., beta: _Optional[float] = ..., strategy_score: _Optional[float] = ..., final_equity: _Optional[float] = ..., bars: _Optional[int] = ...) -> None: ...
