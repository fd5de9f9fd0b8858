"""A candle record is validated once, at decoding; the evaluator takes the decoded candle as it is.

The engine used to turn each decoded candle back into a mapping that the evaluator
validated again. The decoded ``CandleUpdate`` now hands the evaluator a ``LiveCandle``;
these tests pin that it is the same candle (the same signals, bit for bit) and that the
hot path never validates it a second time.
"""

from __future__ import annotations

import pytest

from streaming.signals.engine import SignalEngine
from streaming.signals.live_set import LiveSetSpec
from streaming.signals.state import MemoryKeyState
from tests.pipeline.test_signals_fixtures import CONFIG_A, market, updates, write_config
from tradestream.strategies import live
from tradestream.strategies.config import ActiveStrategySet
from tradestream.strategies.incremental.evaluator import IncrementalEvaluator
from tradestream.strategies.live import to_live_candle


def test_the_decoded_candle_is_the_candle_its_mapping_describes():
    for update in updates(market(40, seed=3), "BTC-USD")[:40]:
        assert update.live_candle() == to_live_candle(update.as_candle())


def test_the_evaluator_signals_the_same_from_decoded_candles_as_from_mappings():
    active = ActiveStrategySet.default()
    # the job's default evaluator (the window one took minutes here: 800 pandas-ta re-runs of 60 strategies)
    from_decoded, from_mappings = IncrementalEvaluator(active), IncrementalEvaluator(active)
    signals_decoded, signals_mappings = [], []
    for update in updates(market(400, seed=7), "BTC-USD"):
        signals_decoded += from_decoded.on_candle(update.live_candle())
        signals_mappings += from_mappings.on_candle(update.as_candle())
    assert signals_decoded and signals_decoded == signals_mappings
    assert from_decoded.export_state() == from_mappings.export_state()


def test_the_engine_never_validates_a_decoded_candle_again(tmp_path, monkeypatch: pytest.MonkeyPatch):
    stream = updates(market(120, seed=11), "BTC-USD")  # decoded (and validated) before the patch

    def validate_again(candle):
        raise AssertionError(f"a decoded candle was validated again: {candle!r}")

    monkeypatch.setattr(live, "to_live_candle", validate_again)
    config = write_config(tmp_path / "live.yaml", CONFIG_A)
    engine = SignalEngine(LiveSetSpec.from_file(config, history_hours=168), snapshot_every=8)
    state = MemoryKeyState()
    for update in stream:
        engine.on_update(update, state)
    assert engine.counts["candles_evaluated"] == len(stream)
