"""The order in which the executor takes its inputs: by event time, as far as the records at hand allow.

Records fetched from Kafka wait here, per partition (in the partition's order), and leave
in event-time order (a trade's event time, a signal's candle close; at equal times the
trade first: the market at that instant is known before a signal acts on it). A partition
with nothing waiting holds the others back only while it may deliver an earlier record:
the stream asks (``holds_back``) whether Kafka holds more of it than the consumer has
delivered, and whether that is still moving. So:

* in steady state, when signals are sparse and trades flow, the signal partitions are
  caught up and nothing waits: a record is processed as soon as it arrives;
* while the executor catches up on a backlog (a restart, a slow start), trades cannot run
  ahead of the signals they would fill, so a ``next_trade`` order finds its trade in the
  trade tape however large the backlog, and a restarted executor decides as an
  uninterrupted one would have.

Halt commands skip the queue: a kill switch acts on arrival, whatever the market's time.
Why not a merge by watermarks, as Flink does: a watermark needs every partition to
advance, and a signal partition can be silent for minutes; here silence that Kafka
confirms (the partition is caught up) releases the others at once.

Hand-written: the consumer delivers partitions in fetch order; nothing in confluent-kafka
orders across partitions.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from streaming.execution.records import Input

#: At equal event times: a trade before a signal.
RANK = {Input.TRADE: 0, Input.SIGNAL: 1, Input.COMMAND: 2}

TopicPartitionKey = tuple[str, int]


@dataclass(order=True)
class Fetched:
    """One input record, decoded, waiting for its turn."""

    time_ns: int
    rank: int
    topic: str
    partition: int
    offset: int
    kind: Input = field(compare=False)
    value: object = field(compare=False)

    @property
    def key(self) -> TopicPartitionKey:
        return self.topic, self.partition


class EventTimeMerge:
    """Waiting records per input partition; ``ready`` yields those whose turn it is."""

    def __init__(self) -> None:
        self._queues: dict[TopicPartitionKey, deque[Fetched]] = {}
        self._commands: deque[Fetched] = deque()

    def reset(self, partitions: Iterable[TopicPartitionKey]) -> None:
        """Forget everything waiting (after a rollback or a new assignment)."""
        self._queues = {tp: deque() for tp in partitions}
        self._commands.clear()

    def add(self, record: Fetched) -> None:
        if record.kind is Input.COMMAND:
            self._commands.append(record)
            return
        self._queues.setdefault(record.key, deque()).append(record)

    def waiting(self, key: TopicPartitionKey | None = None) -> int:
        if key is not None:
            return len(self._queues.get(key, ()))
        return len(self._commands) + sum(len(q) for q in self._queues.values())

    def ready(self, holds_back: Callable[[TopicPartitionKey], bool]) -> Iterator[Fetched]:
        """Records in event-time order while no empty partition ``holds_back`` (may still deliver an
        earlier record); commands first."""
        while self._commands:
            yield self._commands.popleft()
        if any(not q and holds_back(tp) for tp, q in self._queues.items()):
            return
        heads = [q[0] for q in self._queues.values() if q]
        heapq.heapify(heads)
        while heads:
            record = heapq.heappop(heads)
            queue = self._queues[record.key]
            queue.popleft()
            yield record
            if queue:
                heapq.heappush(heads, queue[0])
            elif holds_back(record.key):
                return
