"""The executor's state on Kafka: one record per transaction on the compacted ``execution.snapshots``.

A snapshot is what a restart needs to continue as if nothing happened: the executor's own
state (``Executor.snapshot()``: ledgers, positions, pending orders, halts, marks) and the
input offsets it has consumed up to. It is written in the same Kafka
transaction as the outputs it accounts for and the consumer offsets, so the newest committed
snapshot, the committed outputs and the committed offsets always agree: a restart reads the
newest snapshot of its key (``latest_snapshot``) and resumes reading the inputs at its
offsets.

The value is zlib-compressed JSON (the executor's floats round-trip exactly through JSON).
Compression keeps a snapshot small (ids are hex, fields repeat); the topic accepts up to
``SNAPSHOT_MAX_BYTES``.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streaming.kafka.clients import KafkaClientConfig
from streaming.kafka.ranges import KafkaRangeError, OffsetReader

FORMAT = "tradestream.execution-stream/1"
log = logging.getLogger(__name__)


class SnapshotError(RuntimeError):
    """The snapshot topic holds a record this stream cannot continue from; the message says which."""


@dataclass
class StreamSnapshot:
    """What a restarted stream continues from."""

    executor: dict[str, Any]
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)   # (topic, partition) -> next offset
    transactions: int = 0

    def encode(self) -> bytes:
        document = {"format": FORMAT, "executor": self.executor,
                    "offsets": {f"{topic}|{partition}": offset for (topic, partition), offset in
                                sorted(self.offsets.items())},
                    "transactions": self.transactions}
        return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 1)

    @classmethod
    def decode(cls, value: bytes, where: str = "the snapshot") -> StreamSnapshot:
        try:
            document = json.loads(zlib.decompress(value))
        except (zlib.error, ValueError) as exc:
            raise SnapshotError(f"{where} is not a zlib-compressed JSON snapshot: {exc}") from None
        if not isinstance(document, Mapping) or document.get("format") != FORMAT:
            found = document.get("format") if isinstance(document, Mapping) else type(document).__name__
            raise SnapshotError(f"{where} has format {found!r}, expected {FORMAT!r}")
        try:
            offsets = {}
            for name, offset in document["offsets"].items():
                topic, _, partition = name.rpartition("|")
                offsets[(topic, int(partition))] = int(offset)
            return cls(executor=document["executor"], offsets=offsets, transactions=int(document["transactions"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SnapshotError(f"{where} is malformed: {exc!r}") from None


#: How far back from the end ``latest_snapshot`` looks first (records): the newest snapshot of a key is
#: near the end of the log, while the log's uncompacted head may hold thousands of older ones.
TAIL_STEPS = (64, 4096)


def latest_snapshot(kafka: KafkaClientConfig, topic: str, key: str, timeout_s: float = 60.0) -> StreamSnapshot | None:
    """The newest committed snapshot of ``key`` on ``topic``, or None when there is none.

    Reads the last records of the log first and goes further back only while the key is
    not among them. Call it after the stream's producer ran ``init_transactions``: that
    aborts a killed predecessor's open transaction, so the end of the log is where
    committed data ends.
    """
    deadline = time.monotonic() + timeout_s
    wanted = key.encode()
    with OffsetReader(kafka, topic, purpose="execution-restore") as reader:
        ends = {p: reader.watermarks(p, deadline) for p in reader.partitions(min(timeout_s, 10.0))}
        for step in (*TAIL_STEPS, None):
            newest: dict[int, tuple[int, bytes]] = {}

            def keep(message, newest=newest) -> None:
                if message.key() == wanted and message.value() is not None:
                    newest[message.partition()] = (message.offset(), message.value())

            spans = {p: (low if step is None else max(low, high - step), high) for p, (low, high) in ends.items()}
            try:
                read = reader.read(spans, keep, deadline=deadline)
            except KafkaRangeError as exc:
                raise SnapshotError(f"cannot read the executor's state from {topic}: {exc}") from None
            log.info("looked for the snapshot of %r in %s offsets %s: %d record(s), %s", key, topic, spans,
                     read.records_read, f"newest at {max(o for o, _ in newest.values())}" if newest else "none")
            if newest:
                # a key lives on one partition (the producer hashes it); its newest record is the one to use
                partition, (offset, value) = max(newest.items(), key=lambda item: item[1][0])
                return StreamSnapshot.decode(value, f"snapshot {topic}[{partition}]@{offset} of {key!r}")
            if all(span[0] == ends[p][0] for p, span in spans.items()):
                return None
    return None
