"""The one backoff: exponential from a base, capped, optionally jittered, reset."""

from __future__ import annotations

from tradestream.backoff import Backoff, exponential_delay


def test_without_jitter_the_delays_double_up_to_the_cap():
    backoff = Backoff(base_s=0.05, max_s=1.0)
    assert [backoff.next_delay() for _ in range(7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next_delay() == 0.05


def test_a_huge_attempt_count_stays_at_the_cap():
    assert exponential_delay(10_000, 0.5, 30.0) == 30.0
