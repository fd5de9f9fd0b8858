"""Retry delays, once: exponential growth from a base, a cap, optional jitter, and a reset.

Used by the exchange reconnects (jittered), the stream supervisor's restarts and the
DuckDB store's wait for its file lock (both plain).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def exponential_delay(attempt: int, base_s: float, max_s: float, factor: float = 2.0) -> float:
    """``base_s * factor**attempt`` capped at ``max_s``: the delay before retry ``attempt`` (from 0)."""
    return min(max_s, base_s * factor ** min(attempt, 64))


@dataclass
class Backoff:
    """Successive delays of :func:`exponential_delay`; with ``jitter`` each is drawn from [d/2, d].

    Half-jitter keeps a floor (a server that drops us is not hammered) while spreading
    many clients that failed together. ``reset`` is called once the retried thing has
    proved healthy, so one failure after hours of service is retried quickly.
    """

    base_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: bool = False
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s < self.base_s or self.factor < 1:
            raise ValueError(f"backoff needs 0 < base_s <= max_s and factor >= 1, got base_s={self.base_s}, "
                             f"max_s={self.max_s}, factor={self.factor}")

    def next_delay(self) -> float:
        ceiling = exponential_delay(self.attempt, self.base_s, self.max_s, self.factor)
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling) if self.jitter else ceiling

    def reset(self) -> None:
        self.attempt = 0
