"""Seeding windows from the `candles` topic, on the real broker (no Flink needed).

A stream the engine meets for the first time gets its history from the topic: the final
revision of each earlier bar of that stream only, stopping at the record being processed.
With the stream's whole history on the topic, the engine then continues exactly like a
backtest over all candles.
"""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from streaming.kafka.clients import KafkaClientConfig
from streaming.signals.decoding import decode_candle
from streaming.signals.engine import SignalEngine
from streaming.signals.history import KafkaCandleHistory
from streaming.signals.live_set import LiveSetSpec
from streaming.signals.state import MemoryKeyState
from tests.pipeline.test_signals_fixtures import (
    CONFIG_A,
    CONFIG_B,
    candle_message,
    candle_records,
    decoded_frame,
    expected_signals,
    held_position,
    key_of,
    market,
    sharded,
    updates,
    write_config,
)
from tradestream.settings import Settings
from tradestream.strategies import evaluate
from tradestream.strategies.positions import positions_after
from tradestream.timeframes import MINUTE_NS, NS_PER_MS


@pytest.fixture
def topic(kafka: Settings) -> str:
    name = f"candles-seed-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka.kafka.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result(30)
    return name


def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes, int]]) -> None:
    """(key, value, Kafka timestamp ms) in order; the candle job stamps a candle when it emits it."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value, timestamp_ms in records:
        producer.produce(topic, key=key, value=value, timestamp=timestamp_ms)
    producer.flush(30)


def test_history_is_the_final_revision_of_each_earlier_bar_of_one_stream_from_the_needed_time(kafka, topic):
    start = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=70)).floor("min")
    btc = market(60, seed=5, start=start.isoformat())
    eth = market(60, seed=6, start=start.isoformat())
    revised = btc.iloc[10].copy()
    revised["close"] = revised["high"]

    def emitted(at: pd.Timestamp) -> int:  # the candle job emits a bar just after it closes
        return (at.value + MINUTE_NS) // NS_PER_MS + 50

    records = []
    for i, (at, row) in enumerate(btc.iterrows()):
        records.append((b"BTC-USD|1m", candle_message("BTC-USD", "1m", at, row).SerializeToString(), emitted(at)))
        records.append((b"ETH-USD|1m", candle_message("ETH-USD", "1m", at, eth.iloc[i]).SerializeToString(),
                        emitted(at)))
        if i == 12:  # a late revision of bar 10 and a record the engine cannot read
            records.append((b"BTC-USD|1m", candle_message("BTC-USD", "1m", btc.index[10], revised,
                                                          revision=1).SerializeToString(), emitted(at)))
            records.append((b"BTC-USD|1m", b"\xff\xff garbage", emitted(at)))
    produce(kafka.kafka.bootstrap, topic, records)
    current = 2 * 50 + 2  # the offset of BTC's bar 50: two records a bar, two extra after bar 12
    assert decode_candle(records[current][1], records[current][0]).window_start_ms == btc.index[50].value // NS_PER_MS
    history = KafkaCandleHistory(KafkaClientConfig.from_settings(kafka.kafka), topic, margin_bars=0)

    whole = history.read("BTC-USD", "1m", partition=0, before_offset=current, before_ms=btc.index[50].value //
                         NS_PER_MS, bars=200)
    assert whole.complete
    assert list(whole.frame.index) == list(btc.index[:50])
    assert whole.frame["close"].iloc[10] == revised["close"]
    assert whole.frame["close"].iloc[11] == btc["close"].iloc[11]

    recent = history.read("BTC-USD", "1m", partition=0, before_offset=current,
                          before_ms=btc.index[50].value // NS_PER_MS, bars=8)
    assert not recent.complete
    assert recent.frame.index[0] >= btc.index[50 - 8 - 1] and recent.frame.index[-1] == btc.index[49]
    assert len(recent.frame) <= 9


@pytest.mark.parametrize("engine_kind", ["incremental", "window"])
def test_a_stream_met_mid_history_is_seeded_from_the_topic_and_continues_like_a_backtest(
        engine_kind, kafka, topic, tmp_path):
    frame = market(300, seed=9)
    produce(kafka.kafka.bootstrap, topic, [(key, value, 0) for key, value in candle_records(frame, "BTC-USD")])
    stream = updates(frame, "BTC-USD")  # offsets 0..299 of partition 0, as produced
    assert decode_candle(candle_records(frame, "BTC-USD")[240][1], b"BTC-USD|1m", 0, 240) == stream[240]
    config = write_config(tmp_path / "live.yaml", CONFIG_A)
    engine = SignalEngine(LiveSetSpec.from_file(config, history_hours=168),
                          history=KafkaCandleHistory(KafkaClientConfig.from_settings(kafka.kafka), topic),
                          engine=engine_kind)

    states: dict[str, MemoryKeyState] = {}
    signals = []
    for update in sharded(stream[240:]):  # the engine starts at "latest" = bar 240; the job's shard keys
        signals += engine.on_update(update, states.setdefault(update.key, MemoryKeyState()))

    assert engine.counts["streams_seeded"] == 2  # the shards with strategies (64 and 1,024 candles)
    expected = expected_signals(decoded_frame(stream), "BTC-USD", CONFIG_A, since=frame.index[240])
    assert len(expected) > 5
    assert {key_of(s) for s in signals} == expected
    assert len(signals) == len(expected)


@pytest.mark.parametrize("engine_kind", ["incremental", "window"])
def test_a_reload_starts_an_added_strategy_where_a_backtest_is_and_keeps_running_positions(
        engine_kind, kafka, topic, tmp_path):
    """The job's shard keys hold only the window their own strategies need (20 candles for the
    64-candle shard here): an added strategy's position is replayed over the topic's history."""
    frame = market(300, seed=13)
    produce(kafka.kafka.bootstrap, topic, [(key, value, 0) for key, value in candle_records(frame, "BTC-USD")])
    stream = updates(frame, "BTC-USD")
    config = write_config(tmp_path / "live.yaml", CONFIG_A)
    engine = SignalEngine(LiveSetSpec.from_file(config, history_hours=168, reload_interval_s=0),
                          history=KafkaCandleHistory(KafkaClientConfig.from_settings(kafka.kafka), topic),
                          engine=engine_kind)
    decoded = decoded_frame(stream)
    added, shard_window = CONFIG_B[2], 20  # AROON_MFI joins the shard of TICK_VOLUME_ANALYSIS (window 20)

    def replayed_over_shard_window(bar: int) -> int:
        return int(positions_after(*evaluate(added[0], decoded.iloc[bar - shard_window:bar], added[1])).iat[-1])

    # reload where AROON_MFI is long, but a replay over the shard's 20 candles would say flat
    reload_bar = next(b for b in range(150, 280) if held_position(decoded, *added, decoded.index[b - 1]) == 1
                      and replayed_over_shard_window(b) == 0)
    states: dict[str, MemoryKeyState] = {}
    signals = []
    for update in sharded(stream):
        if update.window_start_ms == stream[reload_bar].window_start_ms and update.bucket == 64:  # its first shard
            write_config(config, CONFIG_B)
        signals += engine.on_update(update, states.setdefault(update.key, MemoryKeyState()))

    expected = (expected_signals(decoded, "BTC-USD", CONFIG_A, until=frame.index[reload_bar])
                | expected_signals(decoded, "BTC-USD", CONFIG_B, since=frame.index[reload_bar]))
    got = [key_of(s) for s in signals]
    assert engine.watcher.version == 2
    assert set(got) == expected
    assert len(got) == len(expected)
    assert any(k.strategy == "AROON_MFI" and k.type == "SELL" for k in expected), "the replayed long must matter"
