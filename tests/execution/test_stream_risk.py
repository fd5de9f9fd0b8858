"""The risk engine through the stream: every reason code trips when its limit is crossed, a halt from
`tradestream risk` survives a kill -9, bad input is rejected and counted without a crash, and the
accounts file reloads without a stop (a bad edit keeps the running config and names its line).

One executor on the wall clock (the stale-signal rule reads it), nine accounts each built to
cross one limit with the same few signals, driven step by step: each step waits for the
executor's answer on Kafka before the next, so the order of trades and signals is the test's.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tests.execution.builders import signal, trade
from tests.execution.stream_harness import (
    ExecutorProcess,
    Outputs,
    Publisher,
    kafka_environment,
    private_settings,
    wait_for,
    write_accounts,
)
from tradestream.v1 import execution_pb2 as pb

E1, E2, E3 = ("DOUBLE_EMA_CROSSOVER", "BTC-USD"), ("SMA_RSI", "BTC-USD"), ("DOUBLE_EMA_CROSSOVER", "ETH-USD")
E4, E5, E6 = ("MACD_CROSSOVER", "ETH-USD"), ("SMA_RSI", "ETH-USD"), ("MACD_CROSSOVER", "BTC-USD")
#: every limit but the stale one generous in time: the test takes minutes of wall clock
SLOW = {"max_signal_age_s": 3600}


def _alloc(entry: tuple[str, str], share: float) -> dict:
    return {"strategy": entry[0], "pair": entry[1], "timeframe": "1m", "share": share, "fees": 0.0}


ACCOUNTS = [
    {"name": "notional", "cash": 1000, "limits": {**SLOW, "max_order_notional": 500}, "allocations": [_alloc(E1, 1)]},
    {"name": "position", "cash": 1000, "limits": {**SLOW, "max_position_notional": 700},
     "allocations": [_alloc(E1, .5), _alloc(E2, .5)]},
    {"name": "gross", "cash": 1000, "limits": {**SLOW, "max_gross_exposure": 700},
     "allocations": [_alloc(E1, .5), _alloc(E3, .5)]},
    {"name": "open", "cash": 1000, "limits": {**SLOW, "max_open_positions": 1},
     "allocations": [_alloc(E1, .5), _alloc(E3, .5)]},
    {"name": "rate", "cash": 1000, "limits": {**SLOW, "max_orders_per_minute": 1},
     "allocations": [_alloc(E1, .5), _alloc(E2, .5)]},
    {"name": "daily", "cash": 1000, "limits": {**SLOW, "daily_loss_limit": 0.05, "on_daily_loss": "reducing"},
     "allocations": [_alloc(E1, .5), _alloc(E5, .5)]},
    {"name": "drawdown", "cash": 1000, "limits": {**SLOW, "max_drawdown": 0.05, "on_max_drawdown": "halted"},
     "allocations": [_alloc(E1, .5), _alloc(E5, .5)]},
    {"name": "stale", "cash": 1000, "limits": {"max_signal_age_s": 60}, "allocations": [_alloc(E4, 1)]},
    {"name": "kill", "cash": 1000, "limits": SLOW, "allocations": [_alloc(E6, 1)]},
]
PRE_TRADE_REASONS = {"MAX_ORDER_NOTIONAL", "MAX_POSITION_NOTIONAL", "MAX_GROSS_EXPOSURE", "MAX_OPEN_POSITIONS",
                     "DAILY_LOSS_LIMIT", "MAX_DRAWDOWN", "STALE_SIGNAL", "DUPLICATE_SIGNAL", "ORDER_RATE_LIMIT",
                     "KILL_SWITCH"}


class Driver:
    """Publishes one step and waits for what the executor answers."""

    def __init__(self, settings, outputs: Outputs, executor: ExecutorProcess):
        self.publisher = Publisher(settings)
        self.outputs = outputs
        self.executor = executor
        minute = pd.Timestamp.now(tz="UTC").floor("min")
        self.t0 = minute - pd.Timedelta(minutes=6)

    def at(self, minute: int, seconds: float = 0.0) -> pd.Timestamp:
        return self.t0 + pd.Timedelta(minutes=minute, seconds=seconds)

    def signal(self, kind: str, entry: tuple[str, str], minute: int, price: float):
        offset = int((self.t0 - pd.Timestamp("2024-03-01", tz="UTC")) / pd.Timedelta(minutes=1))
        message = signal(kind, offset + minute, price, strategy=entry[0], pair=entry[1])
        self.publisher.signal(message)
        self.publisher.flush()
        return message

    def trade(self, pair: str, price: float, minute: int, seconds: float, trade_id: str) -> None:
        self.publisher.trade(trade(price, self.at(minute, seconds), trade_id, pair=pair))
        self.publisher.flush()

    def wait(self, condition: Callable[[Outputs], bool], what: str, timeout: float = 60.0) -> None:
        wait_for(lambda: condition(self.outputs.poll(timeout=0.1)), timeout, f"never saw {what}; log "
                 f"{self.executor.log}", alive=self.executor)

    def denials(self, account: str, reason: str) -> int:
        name = f"RISK_REASON_{reason}"
        return sum(1 for e in self.outputs.risk_events if e.account == account
                   and e.kind == pb.RISK_EVENT_KIND_ORDER_DENIED and pb.RiskReason.Name(e.reason) == name)

    def denied(self, account: str, reason: str) -> bool:
        return self.denials(account, reason) > 0

    def rejected(self, reason: str) -> int:
        return sum(1 for e in self.outputs.risk_events if e.kind == pb.RISK_EVENT_KIND_INPUT_REJECTED
                   and pb.RiskReason.Name(e.reason) == f"RISK_REASON_{reason}")

    def fills(self, account: str) -> list[pb.Fill]:
        return [f for f in self.outputs.fills if f.account == account]


def _risk_cli(settings, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tradestream_cli.main", "risk", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **kafka_environment(settings), "COLUMNS": "200"})


def test_every_risk_rule_trips_a_halt_survives_kill9_bad_input_is_rejected_and_the_accounts_reload(
        kafka, tmp_path: Path, artifacts_dir):
    settings = private_settings(kafka)
    accounts = write_accounts(tmp_path / "accounts.yaml", ACCOUNTS)
    executor = ExecutorProcess(settings, accounts, artifacts_dir / f"execution-risk-{settings.kafka.fills_topic}.log",
                               args=("--clock", "wall"), env={"TRADESTREAM_EXECUTION_RELOAD_INTERVAL_S": "0.5"})
    executor.start()
    outputs = Outputs(settings)
    d = Driver(settings, outputs, executor)
    try:
        d.trade("BTC-USD", 100.0, 1, 30, "b1")
        d.trade("ETH-USD", 100.0, 1, 30, "e1")
        first = d.signal("BUY", E1, 1, 100.0)
        d.wait(lambda o: d.denied("notional", "MAX_ORDER_NOTIONAL") and len(d.fills("rate")) == 1,
               "the first entry of every account")
        d.signal("BUY", E2, 1, 100.0)
        d.wait(lambda o: d.denied("position", "MAX_POSITION_NOTIONAL") and d.denied("rate", "ORDER_RATE_LIMIT"),
               "the second BTC entry denied for pair exposure and order rate")
        d.signal("BUY", E3, 1, 100.0)
        d.wait(lambda o: d.denied("gross", "MAX_GROSS_EXPOSURE") and d.denied("open", "MAX_OPEN_POSITIONS"),
               "the ETH entry denied for gross exposure and open positions")
        d.trade("BTC-USD", 80.0, 2, 10, "b2")  # 5 BTC of 500 lose 100: 10 % of 1000
        d.wait(lambda o: sum(e.kind == pb.RISK_EVENT_KIND_STATUS_CHANGED for e in o.risk_events) >= 2,
               "the daily loss and drawdown accounts change status")
        d.signal("BUY", E5, 2, 100.0)
        d.wait(lambda o: d.denied("daily", "DAILY_LOSS_LIMIT") and d.denied("drawdown", "MAX_DRAWDOWN"),
               "entries denied by the loss limits")
        d.publisher.signal(first)
        d.publisher.flush()
        d.wait(lambda o: d.denied("notional", "DUPLICATE_SIGNAL"), "a repeated signal denied as a duplicate")

        halted = _risk_cli(settings, "halt", "--account", "kill", "--reason", "test")
        assert halted.returncode == 0 and "HALTED" in halted.stdout, halted.stdout + halted.stderr
        d.signal("BUY", E6, 2, 100.0)
        d.wait(lambda o: d.denied("kill", "KILL_SWITCH"), "an entry denied by the kill switch")

        executor.kill9()
        executor.start()
        d.signal("BUY", E6, 3, 100.0)
        d.wait(lambda o: d.denials("kill", "KILL_SWITCH") == 2, "the halt in force after a kill -9")
        resumed = _risk_cli(settings, "resume", "--account", "kill")
        assert resumed.returncode == 0 and "RESUMED" in resumed.stdout, resumed.stdout + resumed.stderr
        d.signal("BUY", E6, 4, 100.0)
        d.wait(lambda o: len(d.fills("kill")) == 1, "an entry filled after the resume")

        stale_at = -20  # minutes after t0: its candle closed about 25 minutes ago
        d.signal("BUY", E4, stale_at, 100.0)
        d.wait(lambda o: d.denied("stale", "STALE_SIGNAL"), "a stale signal denied")

        # bad input: rejected with a reason and counted, the stream goes on
        for value in (b"\x00\xffnot a signal", b""):
            d.publisher.send(settings.kafka.signals_topic, "BTC-USD", value)
        d.publisher.send(settings.kafka.trades_topic, "BTC-USD", b"\x00\xffnot a trade")
        d.publisher.send(settings.kafka.risk_commands_topic, "*", b"\x00\xff")
        d.signal("BUY", ("AROON_MFI", "BTC-USD"), 4, 100.0)
        d.signal("BUY", (E6[0], "SOL-USD"), 4, 100.0)
        d.signal("BUY", E2, 5, math.nan)
        d.signal("SELL", E2, 5, 100.0)
        d.signal("BUY", E1, 0, 100.0)  # older than the candle E1 already acted on
        d.wait(lambda o: all(d.rejected(r) for r in ("MALFORMED", "UNKNOWN_STRATEGY", "UNKNOWN_PAIR", "INVALID_PRICE",
                                                     "SELL_WITHOUT_POSITION", "OUT_OF_ORDER")),
               "every kind of bad input rejected with its reason")

        # the accounts file: a bad edit is refused naming its line, a good one applies without a restart
        accounts.write_text(accounts.read_text().replace("cash: 1000", "cash: -5", 1))
        wait_for(lambda: "accounts file not reloaded" in executor.text(), 30, "no reload error logged",
                 alive=executor)
        write_accounts(accounts, [*ACCOUNTS, {"name": "late", "cash": 2000, "allocations": [_alloc(E6, 1)]}])
        wait_for(lambda: "accounts reloaded" in executor.text(), 30, "the good file was not reloaded",
                 alive=executor)
        d.signal("BUY", E6, 5, 100.0)
        d.wait(lambda o: len(d.fills("late")) == 1, "the added account trading")
        assert executor.alive()
    finally:
        code = executor.stop()
        outputs.close()
    assert code == 0

    denied = {pb.RiskReason.Name(e.reason).removeprefix("RISK_REASON_") for e in outputs.risk_events
              if e.kind == pb.RISK_EVENT_KIND_ORDER_DENIED}
    assert PRE_TRADE_REASONS <= denied, f"never tripped: {PRE_TRADE_REASONS - denied}"
    statuses = {(e.account, pb.AccountStatus.Name(e.status)) for e in outputs.risk_events
                if e.kind == pb.RISK_EVENT_KIND_STATUS_CHANGED}
    assert {("daily", "ACCOUNT_STATUS_REDUCING"), ("drawdown", "ACCOUNT_STATUS_HALTED")} <= statuses
    log = executor.text()
    assert "line " in log.split("accounts file not reloaded")[1].splitlines()[0], "the error must name the line"
    assert "cash" in log.split("accounts file not reloaded")[1].splitlines()[0]
    for event in outputs.risk_events:
        if event.kind == pb.RISK_EVENT_KIND_ORDER_DENIED and event.reason != pb.RISK_REASON_DUPLICATE_SIGNAL:
            assert event.detail, event

