"""The kill switch and the accounts' state, for people: `tradestream risk` and the Dagster UI use these.

``send_halt`` writes a ``HaltCommand`` to ``risk.commands`` (compacted, keyed by account or
``*`` for all): the executor applies it in order with the other inputs and keeps the halt
in its snapshot, and the compacted topic keeps the newest command per key, so neither a
restart nor a fresh executor loses a halt. ``wait_for_outcome`` then follows ``risk.events``
for the executor's answer (HALTED, RESUMED, or UNKNOWN_ACCOUNT). ``account_states`` reads
each account's newest ``AccountState`` from the compacted ``execution.state``.
"""

from __future__ import annotations

import getpass
import logging
import socket
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import KafkaError, TopicPartition

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import KafkaRangeError, OffsetReader
from tradestream.execution.executor import stable_id
from tradestream.v1 import execution_pb2 as pb

log = logging.getLogger(__name__)
_rdkafka_log = logging.getLogger("tradestream.rdkafka")

ALL_ACCOUNTS_KEY = "*"


class CommandError(RuntimeError):
    """The command could not be written; the message says why."""


def requester() -> str:
    """Who asks: user@host (recorded in the command and the risk event)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def halt_command(account: str | None, *, halt: bool, reason: str = "", requested_by: str = "",
                 now_ns: int | None = None) -> pb.HaltCommand:
    """A halt (``halt=True``) or resume of ``account``, or of every account when None."""
    command = pb.HaltCommand(command_id=uuid.uuid4().hex, account=account or "", halt=halt, reason=reason,
                             requested_by=requested_by or requester())
    stamp = time.time_ns() if now_ns is None else now_ns
    command.requested_at.seconds, command.requested_at.nanos = divmod(stamp, 1_000_000_000)
    return command


def end_offsets(kafka: KafkaClientConfig, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """Where ``topic``'s partitions end now (``wait_for_outcome`` reads from there)."""
    deadline = time.monotonic() + timeout_s
    with OffsetReader(kafka, topic, purpose="risk-cli") as reader:
        return {p: reader.watermarks(p, deadline)[1] for p in reader.partitions(timeout_s)}


def send_halt(kafka: KafkaClientConfig, topic: str, command: pb.HaltCommand, timeout_s: float = 15.0) -> None:
    """Write ``command`` to ``topic`` and wait for Kafka's acknowledgement (CommandError otherwise)."""
    producer = kafka.producer({"enable.idempotence": True, "acks": "all", "logger": _rdkafka_log})
    failures: list[str] = []
    producer.produce(topic, key=(command.account or ALL_ACCOUNTS_KEY).encode(), value=command.SerializeToString(),
                     on_delivery=lambda err, _msg: failures.append(str(err)) if err is not None else None)
    left = producer.flush(timeout_s)
    if left or failures:
        raise CommandError(f"the command was not acknowledged by Kafka at {kafka.bootstrap} within {timeout_s:g} s"
                           + (f": {failures[0]}" if failures else "") + f"; topic {topic!r}")


def _answers(command: pb.HaltCommand, event: pb.RiskEvent) -> bool:
    """Whether ``event`` is the executor's answer to ``command`` (its ids are deterministic)."""
    if event.kind in (pb.RISK_EVENT_KIND_HALTED, pb.RISK_EVENT_KIND_RESUMED):
        reason = pb.RISK_REASON_KILL_SWITCH if event.kind == pb.RISK_EVENT_KIND_HALTED else pb.RISK_REASON_OPERATOR
        return event.event_id == stable_id(event.kind, reason, event.account, "", "", command.command_id, "")
    return event.event_id == stable_id(pb.RISK_EVENT_KIND_INPUT_REJECTED, pb.RISK_REASON_UNKNOWN_ACCOUNT, "", "", "",
                                       command.command_id, "")


def wait_for_outcome(kafka: KafkaClientConfig, topic: str, command: pb.HaltCommand, since: dict[int, int],
                     timeout_s: float = 10.0, settle_s: float = 1.0) -> list[pb.RiskEvent]:
    """The executor's risk events answering ``command``, read from ``since`` (offsets per partition of ``topic``).

    Returns once answers stopped coming for ``settle_s`` (a halt of all accounts answers once per
    account), or at ``timeout_s`` with what came (empty: no executor applied it yet).
    """
    consumer = kafka.consumer(f"tradestream-risk-cli-{uuid.uuid4().hex[:8]}", {
        "enable.auto.commit": False, "isolation.level": "read_committed", "logger": _rdkafka_log})
    found: list[pb.RiskEvent] = []
    try:
        consumer.assign([TopicPartition(topic, p, o) for p, o in since.items()])
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline and (last is None or time.monotonic() - last < settle_s):
            message = consumer.poll(0.2)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    raise CommandError(f"reading {topic} failed: {message.error()}")
                continue
            try:
                event = pb.RiskEvent.FromString(message.value() or b"")
            except Exception:  # noqa: BLE001 - not ours to judge here; skip it
                continue
            if _answers(command, event):
                found.append(event)
                last = time.monotonic()
    finally:
        consumer.close()
    return found


@dataclass(frozen=True)
class AccountStates:
    states: dict[str, pb.AccountState]
    undecodable: int = 0


def account_states(kafka: KafkaClientConfig, topic: str, timeout_s: float = 30.0) -> AccountStates:
    """Each account's newest AccountState on the compacted ``topic`` (KafkaRangeError when unreadable)."""
    deadline = time.monotonic() + timeout_s
    with OffsetReader(kafka, topic, purpose="account-states") as reader:
        spans = {p: reader.watermarks(p, deadline) for p in reader.partitions(min(timeout_s, 10.0))}
        read = reader.read(spans, lambda m: pb.AccountState.FromString(m.value() or b""), deadline=deadline)
    states: dict[str, pb.AccountState] = {}
    for state in read.records:
        current = states.get(state.account)
        newer = current is None or (state.as_of.seconds, state.as_of.nanos) >= (current.as_of.seconds,
                                                                                 current.as_of.nanos)
        if state.account and newer:
            states[state.account] = state
    return AccountStates(states, read.undecodable)


__all__ = ["ALL_ACCOUNTS_KEY", "AccountStates", "CommandError", "KafkaRangeError", "account_states", "end_offsets",
           "halt_command", "requester", "send_halt", "wait_for_outcome"]
