"""State pickled into a checkpoint before a class moved is read back as the class at its new home."""

from __future__ import annotations

import pickle

from streaming.jobs.pickled_state import MOVED_CLASSES, PickledStateCoder
from streaming.kafka.beam import KafkaRestriction, PartitionSpan
from streaming.signals.decoding import CandleUpdate


def _as_pickled_by_an_earlier_release(value: object) -> bytes:
    """What the earlier release wrote: the same pickle, naming the classes' former modules."""
    data = pickle.dumps(value, protocol=0)  # protocol 0 names classes as plain text lines
    for (old_module, name), (new_module, new_name) in MOVED_CLASSES.items():
        assert name == new_name
        data = data.replace(f"c{new_module}\n{name}\n".encode(), f"c{old_module}\n{name}\n".encode())
    return data


def test_a_reader_restriction_and_a_kept_candle_from_an_older_checkpoint_are_restored():
    coder = PickledStateCoder()
    restriction = KafkaRestriction("trades", (PartitionSpan(0, 10, None), PartitionSpan(2, 7, 9)))
    update = CandleUpdate("BTC-USD", "1m", 1_700_000_000_000, 2, (1.0, 2.0, 0.5, 1.5, 3.0, float("nan"), 4.0), 1, 41)
    for value in (restriction, update):
        old = _as_pickled_by_an_earlier_release(value)
        assert b"streaming.pipeline" in old
        restored = coder.decode(old)
        assert type(restored) is type(value) and repr(restored) == repr(value)
        assert repr(coder.decode(coder.encode(value))) == repr(value)
