"""The live strategy engine without Beam: signals, revisions, state, config reload, bad input.

Each test drives ``SignalEngine.on_update`` with candles decoded from real Candle protobuf
records and compares with the vectorized evaluation of the strategy library, with each of
the engine's evaluators (``incremental`` and the reference ``window``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from streaming.signals.decoding import CandleUpdate, RejectedCandle, decode_candle
from streaming.signals.engine import SignalEngine
from streaming.signals.live_set import LiveConfigError, LiveSetSpec, LiveSetWatcher, load_live_set
from streaming.signals.state import MemoryKeyState
from tests.pipeline.test_signals_fixtures import (
    CONFIG_A,
    CONFIG_B,
    candle_message,
    decoded_frame,
    expected_signals,
    held_position,
    key_of,
    market,
    sharded,
    updates,
    write_config,
)
from tradestream.timeframes import NS_PER_MS

PAIRS = {"BTC-USD": 11, "ETH-USD": 12}  # pair -> market seed
BARS = 320


@pytest.fixture(scope="module")
def streams() -> dict[str, list[CandleUpdate]]:
    return {pair: updates(market(BARS, seed), pair) for pair, seed in PAIRS.items()}


def run(engine: SignalEngine, stream: list[CandleUpdate], states: dict[str, MemoryKeyState]) -> list:
    out = []
    for update in stream:
        out += engine.on_update(update, states.setdefault(update.key, MemoryKeyState()))
    return out


def interleaved(streams: dict[str, list[CandleUpdate]], start: int = 0, stop: int | None = None):
    """Candles of all pairs bar by bar, as they arrive from the candle job."""
    rows = zip(*(s[start:stop] for s in streams.values()), strict=True)
    return [update for row in rows for update in row]


@pytest.fixture(params=["incremental", "window"])
def engine_kind(request) -> str:
    return request.param


def engine_for(tmp_path: Path, entries, **kwargs) -> SignalEngine:
    config = write_config(tmp_path / "live.yaml", entries)
    return SignalEngine(LiveSetSpec.from_file(config, history_hours=168, reload_interval_s=0), **kwargs)


@pytest.mark.parametrize("shards", [False, True], ids=["one key per stream", "one key per frame bucket"])
def test_engine_emits_exactly_the_vectorized_signals_candle_by_candle(engine_kind, tmp_path, streams, shards):
    engine = engine_for(tmp_path, CONFIG_A, snapshot_every=4, engine=engine_kind)
    candles = interleaved(streams)
    states: dict[str, MemoryKeyState] = {}
    signals = run(engine, sharded(candles) if shards else candles, states)

    got = [key_of(s) for s in signals]
    expected = set()
    for pair, stream in streams.items():
        expected |= expected_signals(decoded_frame(stream), pair, CONFIG_A)
    assert len(expected) > 40, "the market must exercise the strategies"
    assert set(got) == expected
    assert len(got) == len(set(got))
    assert len({s.signal_id for s in signals}) == len(signals)
    if shards:  # only shards with strategies keep state: DONCHIAN and TICK_VOLUME on 64 candles, MACD on 1,024
        assert sorted({key.rsplit("|", 1)[1] for key, state in states.items() if state.meta}) == ["b1024", "b64"]


def test_a_revised_candle_never_produces_a_second_signal_for_its_bar(engine_kind, tmp_path, streams):
    engine = engine_for(tmp_path, CONFIG_A, engine=engine_kind)
    states: dict[str, MemoryKeyState] = {}
    stream = streams["BTC-USD"]
    expected = expected_signals(decoded_frame(stream), "BTC-USD", CONFIG_A)
    signal_bars = {k.candle_time_ms for k in expected}
    signals = []
    for update in stream:
        signals += engine.on_update(update, states.setdefault(update.key, MemoryKeyState()))
        if update.window_start_ms in signal_bars:
            # the same values again as revision 1, then revision 2 with a little more volume, then the
            # original re-delivered: the bar's signals stand and are never repeated
            values = list(update.values)
            values[4] *= 1.000001
            for revised in (update._replace(revision=1), update._replace(revision=2, values=tuple(values)),
                            update):
                signals += engine.on_update(revised, states[update.key])

    got = Counter(key_of(s).identity for s in signals)
    assert {k.identity for k in expected} == set(got)
    assert max(got.values()) == 1
    assert engine.counts["candles_stale"] == len(signal_bars)  # the re-delivered originals


def test_a_worker_without_memory_of_a_key_continues_from_its_state(engine_kind, tmp_path, streams):
    states: dict[str, MemoryKeyState] = {}
    first = engine_for(tmp_path, CONFIG_A, snapshot_every=5, engine=engine_kind)
    half = BARS // 2 + 3  # not on a snapshot boundary: the restore replays the candles since the snapshot
    signals = run(first, interleaved(streams, 0, half), states)
    assert all(state.recent for state in states.values())

    # a new worker: state, but no evaluators
    second = engine_for(tmp_path, CONFIG_A, snapshot_every=5, engine=engine_kind)
    signals += run(second, interleaved(streams, half), states)

    assert second.counts["streams_restored"] == len(PAIRS)
    expected = set()
    for pair, stream in streams.items():
        expected |= expected_signals(decoded_frame(stream), pair, CONFIG_A)
    assert [key_of(s) for s in signals if key_of(s) not in expected] == []
    assert len(signals) == len(expected)


def test_config_reload_keeps_positions_and_starts_added_strategies_where_a_backtest_would_be(
        engine_kind, tmp_path, streams):
    config = write_config(tmp_path / "live.yaml", CONFIG_A)
    engine = SignalEngine(LiveSetSpec.from_file(config, history_hours=168, reload_interval_s=0), engine=engine_kind)
    frames = {pair: decoded_frame(stream) for pair, stream in streams.items()}
    # reload at a bar where the kept MACD is long in both pairs: a lost position would miss its SELL
    macd = CONFIG_A[1]
    boundary = next(i for i in range(BARS // 2, BARS)
                    if all(held_position(f, macd[0], macd[1], f.index[i - 1]) == 1 for f in frames.values()))
    states: dict[str, MemoryKeyState] = {}
    signals = run(engine, interleaved(streams, 0, boundary), states)

    write_config(config, CONFIG_B)
    signals += run(engine, interleaved(streams, boundary), states)

    assert engine.watcher.version == 2
    expected = set()
    for pair, frame in frames.items():
        switch = frame.index[boundary]
        expected |= expected_signals(frame, pair, CONFIG_A, until=switch)
        expected |= expected_signals(frame, pair, CONFIG_B, since=switch)
    assert {key_of(s) for s in signals} == expected
    assert len(signals) == len(expected)
    assert any(k.strategy == "MACD_CROSSOVER" and k.type == "SELL" and k.candle_time_ms >= frames["BTC-USD"].index[
        boundary].value // NS_PER_MS for k in expected), "the kept position must matter after the reload"


def test_bad_config_entries_are_skipped_with_an_error_naming_strategy_parameter_and_value(tmp_path):
    config = write_config(tmp_path / "live.yaml", [("DONCHIAN_BREAKOUT", {})], extra=[
        {"strategy": "MACD_CROSS", "params": {}},
        {"strategy": "MACD_CROSSOVER", "params": {"fast": 60}},
        {"strategy": "DOUBLE_EMA_CROSSOVER", "params": {"short_period": 20, "long_period": 15}},
        {"strategy": "VARIABLE_PERIOD_EMA", "params": {}, "timeframes": ["1m", "1d"]},
    ])
    active, errors = load_live_set(LiveSetSpec.from_file(config, history_hours=168))

    assert {e.strategy for e in active} == {"DONCHIAN_BREAKOUT", "VARIABLE_PERIOD_EMA"}
    assert next(e for e in active if e.strategy == "VARIABLE_PERIOD_EMA").timeframes == ("1m",)
    text = "\n".join(errors)
    assert len(errors) == 4
    assert "MACD_CROSS" in errors[0] and "MACD_CROSSOVER" in errors[0]  # unknown, with a suggestion
    assert "fast=60" in errors[1] and "[8, 16]" in errors[1]
    assert "short_period" in errors[2] and "long_period" in errors[2] and "20" in errors[2]
    assert "VARIABLE_PERIOD_EMA" in errors[3] and "on 1d" in errors[3] and "look-back" in errors[3]
    assert "er_period=10" in errors[3] and "7 1d candles" in errors[3], text


def test_a_config_file_that_turns_bad_keeps_the_running_set_until_it_is_fixed(tmp_path):
    config = write_config(tmp_path / "live.yaml", CONFIG_A)
    watcher = LiveSetWatcher(LiveSetSpec.from_file(config, history_hours=168, reload_interval_s=0))
    running = {e.key for e in watcher.active}

    config.write_text("strategies: [unclosed")
    assert watcher.poll() is False
    assert {e.key for e in watcher.active} == running

    write_config(config, CONFIG_B)
    assert watcher.poll() is True
    assert {e.strategy for e in watcher.active} == {name for name, _ in CONFIG_B}


def test_a_missing_config_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(LiveConfigError, match="nowhere.yaml"):
        LiveSetSpec.from_file(tmp_path / "nowhere.yaml", history_hours=168)


def test_candles_of_a_stream_without_active_strategies_are_ignored_without_state(tmp_path):
    engine = engine_for(tmp_path, CONFIG_A)  # 1m only
    frame = market(30, seed=3)
    state = MemoryKeyState()
    for update in updates(frame.resample("5min").agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                                      "volume": "sum", "vwap": "mean", "trade_count": "sum"}),
                          "BTC-USD", "5m"):
        assert engine.on_update(update, state) == []
    assert state.meta is None and state.snapshot is None
    assert engine.counts["candles_inactive"] > 0


@pytest.mark.parametrize(("payload", "key", "reason", "names"), [
    (None, b"BTC-USD|1m", "undecodable_candle", "no value"),
    (b"\xff\xff\xff not a protobuf", b"BTC-USD|1m", "undecodable_candle", "not a Candle protobuf"),
    (b"\x48\x01", None, "undecodable_candle", "no Candle fields"),  # parses: field 9 varint, nothing else
    ("high_below_low", b"BTC-USD|1m", "invalid_candle", "high"),
    ("no_window_start", b"BTC-USD|1m", "invalid_candle", "window_start"),
    ("good", b"ETH-USD|1m", "invalid_candle", "differs"),
    ("bad_timeframe", b"BTC-USD|7m", "invalid_candle", "7m"),
])
def test_unusable_candle_records_are_rejected_with_a_reason_and_detail(payload, key, reason, names):
    row = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 2.0, "vwap": 10.2, "trade_count": 3}
    at = pd.Timestamp("2024-03-01T00:00Z")
    if isinstance(payload, str):
        message = candle_message("BTC-USD", "1m", at, row)
        if payload == "high_below_low":
            message.high = 8.0
        elif payload == "no_window_start":
            message.ClearField("window_start")
        elif payload == "bad_timeframe":
            message.timeframe = "7m"
        payload = message.SerializeToString()
    with pytest.raises(RejectedCandle) as caught:
        decode_candle(payload, key, 2, 41)
    assert caught.value.reason == reason
    assert names in caught.value.detail


def test_a_good_record_decodes_to_the_values_the_evaluator_reads():
    row = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 2.0, "vwap": 0.0, "trade_count": 0}
    at = pd.Timestamp("2024-03-01T00:01Z")
    update = decode_candle(candle_message("BTC-USD", "1m", at, row, revision=2).SerializeToString(),
                           b"BTC-USD|1m", 1, 7)
    assert (update.key, update.window_start_ms, update.revision, update.partition, update.offset) == \
        ("BTC-USD|1m", at.value // NS_PER_MS, 2, 1, 7)
    candle = update.as_candle()
    assert "vwap" not in candle  # 0 = a filled candle without trades: no price
    assert candle["close"] == 10.5 and candle["trade_count"] == 0.0
