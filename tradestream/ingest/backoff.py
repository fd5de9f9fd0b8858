"""Reconnect delays: exponential growth, a cap, and jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class ReconnectBackoff:
    """Delays of ``base_s * factor**attempt`` capped at ``max_s``, each drawn from [d/2, d].

    Half-jitter keeps a floor (a server that drops us is not hammered) while spreading
    many connections that dropped together. ``reset`` is called once a connection has
    proved healthy, so one drop after hours of service reconnects quickly.
    """

    base_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s < self.base_s or self.factor < 1:
            raise ValueError(f"backoff needs 0 < base_s <= max_s and factor >= 1, got base_s={self.base_s}, "
                             f"max_s={self.max_s}, factor={self.factor}")

    def next_delay(self) -> float:
        ceiling = min(self.max_s, self.base_s * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
