"""Gap detection on a connection's ``sequence_num``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SequenceTracker:
    """Follows one connection's frame counter; a jump forward means frames were lost.

    Coinbase numbers every frame on a connection (all channels together) from 0, so the
    tracker is reset when a connection is replaced. A counter that goes backwards is
    counted separately: it is not a loss but a sign of a confused server.
    """

    last: int | None = None
    gaps: int = 0
    missing_frames: int = 0
    regressions: int = 0

    def observe(self, sequence_num: int) -> int:
        """Record ``sequence_num``; return how many frames were skipped before it (0 if none)."""
        previous, self.last = self.last, sequence_num
        if previous is None:
            return 0
        if sequence_num > previous + 1:
            skipped = sequence_num - previous - 1
            self.gaps += 1
            self.missing_frames += skipped
            return skipped
        if sequence_num <= previous:
            self.regressions += 1
        return 0

    def reset(self) -> None:
        """Forget the counter (a new connection starts its own)."""
        self.last = None
