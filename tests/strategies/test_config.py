"""The active strategy set: default, file format, bad entries skipped with a reason, round trip."""

from __future__ import annotations

import json

import pytest
import yaml

from tradestream.params import params_from_proto, params_key, params_to_proto
from tradestream.strategies import strategy_names
from tradestream.strategies.config import ActiveStrategySet, load_active_set


def _write(tmp_path, data, suffix=".yaml"):
    path = tmp_path / f"strategies{suffix}"
    path.write_text(yaml.safe_dump(data) if suffix != ".json" else json.dumps(data))
    return path


def test_without_a_file_every_strategy_runs_with_defaults_on_1m_for_every_pair():
    active, errors = load_active_set(None)
    assert errors == [] and len(active) == 60
    stream = active.for_stream("SOL-USD", "1m")
    assert sorted(e.strategy for e in stream) == sorted(strategy_names())
    assert active.for_stream("SOL-USD", "5m") == []
    assert all(e.params == e.spec.space.defaults() for e in stream)


def test_bad_entries_are_reported_by_strategy_parameter_and_value_and_the_rest_is_kept(tmp_path):
    path = _write(tmp_path, {"strategies": [
        {"strategy": "MACD_CROSSOVER", "params": {"fast": 10}, "pairs": ["BTC-USD"], "timeframes": ["1m", "5m"]},
        {"strategy": "MACD_CROSSOVER", "params": {"fast": 60}},
        {"strategy": "DOUBLE_EMA_CROSSOVER", "params": {"short_period": 25, "long_period": 20}},
        {"strategy": "NOT_A_STRATEGY"},
        {"strategy": "SMA_RSI", "timeframes": ["2m"]},
        {"strategy": "SMA_RSI", "pairs": ["btc-usd"]},
        {"strategy": "SMA_RSI", "param": {"ma_period": 20}},
        "RSI",
        {"strategy": "RSI_EMA_CROSSOVER", "params": {"rsi_period": 10}},
    ]})
    active, errors = load_active_set(path)
    assert [e.strategy for e in active] == ["MACD_CROSSOVER", "RSI_EMA_CROSSOVER"]
    messages = [str(e) for e in errors]
    assert "strategies[1] (MACD_CROSSOVER): MACD_CROSSOVER: parameter fast=60 is outside its range [8, 16]" in messages
    constraint = "violate constraint short_period < long_period: short_period=25, long_period=20"
    assert any("strategies[2]" in m and constraint in m for m in messages)
    assert any("strategies[3]" in m and "unknown strategy 'NOT_A_STRATEGY'" in m for m in messages)
    assert any("strategies[4]" in m and "unknown timeframe(s) ['2m']" in m for m in messages)
    assert any("strategies[5]" in m and "['btc-usd'] must look like 'BTC-USD'" in m for m in messages)
    assert any("strategies[6]" in m and "unknown key(s) ['param']" in m for m in messages)
    assert any("strategies[7]" in m and "entry must be a mapping" in m for m in messages)
    assert len(errors) == 7
    macd = active.entries[0]
    assert macd.params == {"fast": 10, "slow": 26, "signal": 9}
    assert macd.applies_to("BTC-USD", "5m") and not macd.applies_to("ETH-USD", "1m")


def test_star_entry_include_defaults_and_file_defaults(tmp_path):
    path = _write(tmp_path, {
        "include_defaults": True,
        "defaults": {"timeframes": ["5m"], "pairs": ["ETH-USD"]},
        "strategies": [{"strategy": "*", "timeframes": ["1h"]},
                       {"strategy": "PVT", "params": {"signal": 30}}],
    }, suffix=".json")
    active, errors = load_active_set(path)
    assert errors == []
    assert len(active.for_stream("ETH-USD", "5m")) == 61  # 60 defaults + PVT(signal=30)
    assert len(active.for_stream("ETH-USD", "1h")) == 60
    assert active.for_stream("BTC-USD", "5m") == []


def test_dumped_set_loads_back_identically(tmp_path):
    active, _ = ActiveStrategySet.from_dict({"strategies": [
        {"strategy": "MACD_CROSSOVER", "params": {"fast": 10}, "pairs": ["BTC-USD"]},
        {"strategy": "SMA_RSI", "timeframes": ["1m", "15m"]}]})
    for suffix in (".yaml", ".json"):
        again, errors = load_active_set(active.dump(tmp_path / f"out{suffix}"))
        assert errors == [] and again.to_dict() == active.to_dict()


def test_duplicate_entries_collapse_and_keys_do_not_depend_on_order_or_int_vs_float():
    active, _ = ActiveStrategySet.from_dict({"strategies": [
        {"strategy": "ADX_DMI", "params": {"adx_threshold": 20}},
        {"strategy": "adx_dmi", "params": {"adx_threshold": 20.0, "period": 14}}]})
    assert len(active) == 1
    assert params_key({"b": 1, "a": 2.5}) == params_key({"a": 2.5, "b": 1}) == '{"a":2.5,"b":1}'
    default_key = ActiveStrategySet.default().for_stream("BTC-USD", "1m")[0].key
    assert default_key == active.entries[0].key


def test_parameter_sets_travel_through_protobuf_unchanged():
    message = params_to_proto("MACD_CROSSOVER", {"fast": 12, "ratio": 0.5})
    assert message.strategy == "MACD_CROSSOVER"
    assert [p.WhichOneof("value") for p in message.parameters] == ["int_value", "double_value"]
    assert params_from_proto(message) == {"fast": 12, "ratio": 0.5}


def test_window_for_a_stream_is_the_longest_window_of_its_strategies():
    active, _ = ActiveStrategySet.from_dict({"strategies": [
        {"strategy": "MACD_CROSSOVER"}, {"strategy": "VARIABLE_PERIOD_EMA", "timeframes": ["5m"]}]})
    macd, kama = active.entries
    assert active.window_for("BTC-USD", "1m") == macd.window
    assert active.window_for("BTC-USD", "5m") == kama.window > macd.window
    assert active.window_for("BTC-USD", "1d") == 0


@pytest.mark.parametrize(("content", "message"), [
    ("strategies: [", "is not valid yaml"),
    ("", "is empty"),
    ("strategies: {a: 1}", "'strategies' must be a list"),
    ("stratgies: []", r"unknown key\(s\) \['stratgies'\]"),
    ("defaults: {timeframes: [7m]}", r"unknown timeframe\(s\) \['7m'\]"),
])
def test_a_file_that_cannot_be_read_as_a_config_raises(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_active_set(path)


def test_a_missing_file_is_an_error_that_mentions_the_default(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; create it or run without one"):
        load_active_set(tmp_path / "nope.yaml")
