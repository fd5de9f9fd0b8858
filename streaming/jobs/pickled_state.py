"""The coder of the jobs' pickled Beam state, readable across a move of the pickled classes.

Pickle names a class by its module, and Flink keeps what the jobs pickled (the Kafka
readers' restrictions, the signal job's recent candles) in its retained checkpoints. A job
resumed from a checkpoint taken before one of those classes moved would fail to restore,
and a supervised stream would fail the same way on every restart. ``PickledStateCoder``
writes exactly what ``coders.PickleCoder`` writes and, reading, finds a class that moved
at its new home (``MOVED_CLASSES``). An entry can go once no retained checkpoint is older
than the move.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

from apache_beam import coders
from apache_beam.coders import coder_impl

#: (module, class) pickled by earlier releases -> where the class lives now. Issue 11 split
#: streaming/pipeline by job: the Kafka IO moved to streaming.kafka.beam, the candle record
#: the signal engine keeps to streaming.signals.decoding.
MOVED_CLASSES: dict[tuple[str, str], tuple[str, str]] = {
    ("streaming.pipeline.kafkaio", "KafkaRestriction"): ("streaming.kafka.beam", "KafkaRestriction"),
    ("streaming.pipeline.kafkaio", "PartitionSpan"): ("streaming.kafka.beam", "PartitionSpan"),
    ("streaming.pipeline.signals_engine", "CandleUpdate"): ("streaming.signals.decoding", "CandleUpdate"),
}


class _MovedClassesUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = MOVED_CLASSES.get((module, name), (module, name))
        return super().find_class(module, name)


def loads(data: bytes) -> Any:
    """``pickle.loads`` that finds a moved class at its new home."""
    return _MovedClassesUnpickler(io.BytesIO(data)).load()


class PickledStateCoder(coders.PickleCoder):
    """``coders.PickleCoder`` whose decoding follows ``MOVED_CLASSES``."""

    def _create_impl(self):
        return coder_impl.CallbackCoderImpl(lambda value: pickle.dumps(value, pickle.HIGHEST_PROTOCOL), loads)
