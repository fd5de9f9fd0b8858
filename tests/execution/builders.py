"""Builders for execution tests: configs, signals and trades as the topics carry them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tradestream.execution.accounts import AccountsConfig
from tradestream.execution.executor import Executor
from tradestream.strategies.live import LiveSignal
from tradestream.v1 import execution_pb2, market_pb2

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
MINUTE = pd.Timedelta(minutes=1)


def account(name: str = "a", cash: float = 1000.0, *, allocations: list[dict[str, Any]] | None = None,
            limits: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": name, "cash": cash, "limits": dict(limits or {}),
            "allocations": allocations if allocations is not None else [allocation()], **fields}


def allocation(strategy: str = "DOUBLE_EMA_CROSSOVER", pair: str = "BTC-USD", share: float = 1.0,
               **fields: Any) -> dict[str, Any]:
    return {"strategy": strategy, "pair": pair, "timeframe": "1m", "share": share, "fees": 0.0,
            "slippage_bps": 0.0, **fields}


def config(*accounts: dict[str, Any], **fields: Any) -> AccountsConfig:
    return AccountsConfig.model_validate({"accounts": list(accounts) or [account()], **fields})


def executor(*accounts: dict[str, Any], **fields: Any) -> Executor:
    return Executor(config(*accounts, **fields))


def signal(kind: str, minute: int, price: float, *, strategy: str = "DOUBLE_EMA_CROSSOVER",
           params: Mapping[str, Any] | None = None, pair: str = "BTC-USD", timeframe: str = "1m"):
    """The Signal the strategy engine publishes for the candle starting ``minute`` minutes after T0."""
    from tradestream.strategies import get_strategy

    values = get_strategy(strategy).space.validate(params or {})
    live = LiveSignal(strategy=strategy, params=values, pair=pair, timeframe=timeframe,
                      candle_time=T0 + minute * MINUTE, price=price, type=kind, reason="test")
    return live.to_proto(emitted_at=(T0 + (minute + 1) * MINUTE).to_pydatetime())


def close_of(minute: int) -> pd.Timestamp:
    """When the candle starting at ``minute`` closes: the signal's time."""
    return T0 + (minute + 1) * MINUTE


def trade(price: float, at: pd.Timestamp, trade_id: str, pair: str = "BTC-USD") -> market_pb2.Trade:
    message = market_pb2.Trade(exchange="simulator", currency_pair=pair, trade_id=trade_id, price=price, size=0.1)
    message.event_time.FromDatetime(at.to_pydatetime())
    return message


def halt(account_name: str = "", *, halt_: bool = True, at: pd.Timestamp = T0, command_id: str = "c1"):
    message = execution_pb2.HaltCommand(command_id=command_id, account=account_name, halt=halt_,
                                        reason="test", requested_by="pytest")
    message.requested_at.FromDatetime(at.to_pydatetime())
    return message
