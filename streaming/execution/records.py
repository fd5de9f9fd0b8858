"""What the execution stream reads and writes, as Kafka records.

Inputs are decoded here and handed to the executor as they are: a record that is not a
valid protobuf message reaches ``Executor`` as its raw bytes, which rejects it with a
reason (signals and commands: a ``RiskEvent`` MALFORMED; trades: counted), so one bad
record never stops the stream. Outputs go to their topics with the keys of
``protos/tradestream/v1/execution.proto``: orders and fills by client order id (one
order's records stay in order on one partition), positions by allocation, risk events
and account states by account.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from google.protobuf.message import DecodeError

from tradestream.execution.executor import Outputs
from tradestream.settings import KafkaSettings
from tradestream.timeframes import NS_PER_SECOND as NS_PER_S
from tradestream.timeframes import TIMEFRAME_NS
from tradestream.v1 import execution_pb2, market_pb2, strategy_pb2


class Input(StrEnum):
    SIGNAL = "signal"
    TRADE = "trade"
    COMMAND = "command"


_MESSAGES = {Input.SIGNAL: strategy_pb2.Signal, Input.TRADE: market_pb2.Trade, Input.COMMAND: execution_pb2.HaltCommand}


@dataclass(frozen=True)
class ExecutionTopics:
    """The stream's topics: three inputs, five outputs (and the snapshots, its state)."""

    signals: str
    trades: str
    commands: str
    orders: str
    fills: str
    positions: str
    risk_events: str
    account_states: str
    snapshots: str

    @classmethod
    def from_settings(cls, kafka: KafkaSettings) -> ExecutionTopics:
        return cls(signals=kafka.signals_topic, trades=kafka.trades_topic, commands=kafka.risk_commands_topic,
                   orders=kafka.orders_topic, fills=kafka.fills_topic, positions=kafka.positions_topic,
                   risk_events=kafka.risk_events_topic, account_states=kafka.account_states_topic,
                   snapshots=kafka.execution_snapshots_topic)

    @property
    def inputs(self) -> dict[str, Input]:
        return {self.signals: Input.SIGNAL, self.trades: Input.TRADE, self.commands: Input.COMMAND}


def decode(kind: Input, value: bytes | None) -> object:
    """The input's protobuf message, or the raw bytes when they are not one (the executor rejects those)."""
    try:
        return _MESSAGES[kind].FromString(value or b"")
    except DecodeError:
        return value


def event_time_ns(value: object) -> int:
    """When an input happened: a trade's event time, a signal's candle close; 0 for what is not valid
    (the executor rejects it at once) and for commands (they act on arrival)."""
    if isinstance(value, market_pb2.Trade):
        return value.event_time.seconds * NS_PER_S + value.event_time.nanos
    if isinstance(value, strategy_pb2.Signal):
        return (value.candle_time.seconds * NS_PER_S + value.candle_time.nanos
                + TIMEFRAME_NS.get(value.timeframe, 0))
    return 0


def output_records(outputs: Outputs, topics: ExecutionTopics) -> Iterator[tuple[str, bytes, bytes]]:
    """(topic, key, value) of every output, in the order they happened per kind."""
    for order in outputs.orders:
        yield topics.orders, order.client_order_id.encode(), order.SerializeToString()
    for fill in outputs.fills:
        yield topics.fills, fill.client_order_id.encode(), fill.SerializeToString()
    for position in outputs.positions:
        yield topics.positions, position.allocation_id.encode(), position.SerializeToString()
    for event in outputs.risk_events:
        yield topics.risk_events, (event.account or "-").encode(), event.SerializeToString()
    for state in outputs.accounts:
        yield topics.account_states, state.account.encode(), state.SerializeToString()
