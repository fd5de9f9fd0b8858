"""De-duplication, sequence gaps, reconnect backoff, pair sources: the pure pieces of wet mode."""

from __future__ import annotations

import random

import pytest

from tradestream.backoff import Backoff
from tradestream.ingest.dedupe import TradeDeduplicator
from tradestream.ingest.pairs import ConfiguredPairs, PairSource, pair_source_from_settings, split_into_connections
from tradestream.ingest.sequence import SequenceTracker
from tradestream.settings import IngestionSettings


def test_a_trade_id_is_new_once_per_pair() -> None:
    dedupe = TradeDeduplicator(capacity_per_pair=10)
    assert dedupe.is_new("BTC-USD", "1") and dedupe.is_new("ETH-USD", "1")
    assert not dedupe.is_new("BTC-USD", "1")


def test_the_dedupe_window_is_bounded_per_pair() -> None:
    dedupe = TradeDeduplicator(capacity_per_pair=3)
    for trade_id in "abcd":
        assert dedupe.is_new("BTC-USD", trade_id)
    assert len(dedupe) == 3
    assert dedupe.is_new("BTC-USD", "a"), "the oldest id fell out of the window"
    assert not dedupe.is_new("BTC-USD", "d")
    with pytest.raises(ValueError, match="capacity_per_pair=0"):
        TradeDeduplicator(0)


def test_sequence_gaps_are_counted_with_the_frames_they_skip() -> None:
    tracker = SequenceTracker()
    assert [tracker.observe(n) for n in (0, 1, 2, 5, 6, 10)] == [0, 0, 0, 2, 0, 3]
    assert (tracker.gaps, tracker.missing_frames, tracker.regressions) == (2, 5, 0)
    tracker.observe(4)
    assert tracker.regressions == 1 and tracker.gaps == 2
    tracker.reset()
    assert tracker.observe(0) == 0, "a new connection starts its own count"


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(base_s=0.5, max_s=8.0, jitter=True, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.5, 1, 2, 4, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays), "jitter spreads the delays"
    backoff.reset()
    assert backoff.next_delay() <= 0.5
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=0)


def test_products_are_spread_over_connections() -> None:
    pairs = [f"P{i}-USD" for i in range(32)]
    groups = split_into_connections(pairs, 15)
    assert [len(g) for g in groups] == [15, 15, 2]
    assert [p for g in groups for p in g] == pairs


def test_configured_pairs_are_a_pair_source() -> None:
    source = pair_source_from_settings(IngestionSettings(products=["BTC-USD", "ETH-USD", "BTC-USD"]))
    assert isinstance(source, PairSource)
    assert source.pairs() == ["BTC-USD", "ETH-USD"]
    with pytest.raises(ValueError, match="TRADESTREAM_INGEST_PRODUCTS"):
        ConfiguredPairs([])
