"""Live evaluator behaviour: revisions, late candles, state, reloads, broken strategies, bad candles.

Each behaviour is checked on both live evaluators: the reference ``LiveEvaluator`` (pandas-ta
over each stream's window) and ``IncrementalEvaluator`` (incremental indicators).
"""

from __future__ import annotations

import json
from datetime import UTC

import pandas as pd
import pytest

from tradestream.strategies import IndicatorCache, get_strategy, list_strategies
from tradestream.strategies.config import ActiveEntry, ActiveStrategySet
from tradestream.strategies.incremental.evaluator import IncrementalEvaluator
from tradestream.strategies.live import LiveEvaluator, LiveSignal, evaluate_last_bar, to_live_candle
from tradestream.strategies.positions import positions_after, trade_signals
from tradestream.v1 import market_pb2, strategy_pb2

PAIR, TF = "BTC-USD", "1m"


def _entry(name: str, **params) -> ActiveEntry:
    spec = get_strategy(name)
    return ActiveEntry(name, spec.validate_params(params), None, (TF,))


def _row(frame: pd.DataFrame, i: int, pair: str = PAIR, **override) -> dict[str, object]:
    row = {"pair": pair, "timeframe": TF, "window_start": frame.index[i], **frame.iloc[i].to_dict()}
    row.update(override)
    return row


@pytest.fixture(params=[LiveEvaluator, IncrementalEvaluator], ids=["window", "incremental"])
def Evaluator(request):  # noqa: N802 - a class
    return request.param


@pytest.fixture(scope="module")
def frame(month) -> pd.DataFrame:
    # 120 candles after MACD's window is full, so the live window has started to drop candles
    return month.iloc[: get_strategy("MACD_CROSSOVER").window() + 120]


@pytest.fixture(scope="module")
def macd_signals(frame) -> pd.Series:
    return trade_signals(*get_strategy("MACD_CROSSOVER").signals(frame))


def _feed(live, frame: pd.DataFrame, bars: range, pair: str = PAIR) -> dict[int, str]:
    out = {}
    for i in bars:
        for s in live.on_candle(_row(frame, i, pair)):
            out[i] = s.type
    return out


def test_no_signal_while_the_window_holds_fewer_candles_than_the_lookback(Evaluator, frame):
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    lookback = get_strategy("MACD_CROSSOVER").lookback()
    assert _feed(live, frame, range(lookback)) == {}


def test_revised_candle_never_emits_a_second_signal_for_the_same_bar(Evaluator, frame, macd_signals):
    buy = int(macd_signals[macd_signals == 1].index.map(frame.index.get_loc)[0])
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    _feed(live, frame, range(buy))
    first = live.on_candle(_row(frame, buy))
    assert [s.type for s in first] == ["BUY"]
    # the same candle again (redelivery) and a revision that still holds the entry: nothing new
    assert live.on_candle(_row(frame, buy)) == []
    revised = _row(frame, buy, close=frame["close"].iloc[buy] * 1.0001, high=frame["high"].iloc[buy] * 1.0001)
    assert live.on_candle(revised) == []
    assert live.position("MACD_CROSSOVER", get_strategy("MACD_CROSSOVER").space.defaults(), PAIR, TF) == 1


def test_revision_that_creates_a_signal_emits_it_once_from_the_position_before_the_bar(Evaluator, frame, macd_signals):
    buy = int(macd_signals[macd_signals == 1].index.map(frame.index.get_loc)[0])
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    _feed(live, frame, range(buy))
    # first version of the bar: a 1% drop, so MACD cannot cross up yet
    prev_close = frame["close"].iloc[buy - 1]
    flat_version = _row(frame, buy, open=prev_close, close=prev_close * 0.99, high=prev_close,
                        low=prev_close * 0.99)
    assert live.on_candle(flat_version) == []
    revised = live.on_candle(_row(frame, buy))  # the final candle crosses: one BUY
    assert [s.type for s in revised] == ["BUY"]
    assert live.on_candle(_row(frame, buy)) == []


def test_late_candles_are_ignored_and_counted(Evaluator, frame):
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    _feed(live, frame, range(100))
    assert live.on_candle(_row(frame, 50)) == []
    assert live.late_candles == 1


def test_streams_of_different_pairs_keep_separate_windows_and_positions(Evaluator, frame, macd_signals):
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    expected = {i: ("BUY" if v == 1 else "SELL") for i, v in enumerate(macd_signals) if v != 0}
    got: dict[str, dict[int, str]] = {"BTC-USD": {}, "ETH-USD": {}}
    for i in range(len(frame)):
        for pair, signals in got.items():
            for s in live.on_candle(_row(frame, i, pair)):
                signals[i] = s.type
    assert got["BTC-USD"] == expected and got["ETH-USD"] == expected


def test_exported_state_survives_json_and_continues_exactly(Evaluator, frame, macd_signals):
    active = ActiveStrategySet.of([_entry("MACD_CROSSOVER"), _entry("OBV_EMA")])
    straight = Evaluator(active)
    expected = _feed(straight, frame, range(len(frame)))
    first = Evaluator(active)
    cut = len(frame) - 80  # after the window started to drop candles
    before = _feed(first, frame, range(cut))
    state = json.loads(json.dumps(first.export_state()))  # plain dicts, nothing exotic
    second = Evaluator(active)
    second.import_state(state)
    after = _feed(second, frame, range(cut, len(frame)))
    assert {**before, **after} == expected
    assert set(state) == {"format", "streams", "positions"}


def test_export_state_can_select_one_stream(Evaluator, frame):
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    _feed(live, frame, range(50), "BTC-USD")
    _feed(live, frame, range(50), "ETH-USD")
    state = live.export_state(pair="ETH-USD")
    assert [s["pair"] for s in state["streams"]] == ["ETH-USD"]
    assert {p["pair"] for p in state["positions"]} <= {"ETH-USD"}


def test_incremental_import_state_refuses_foreign_or_malformed_state():
    live = IncrementalEvaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    with pytest.raises(ValueError, match="format='tradestream.incremental/1'"):
        live.import_state({"format": "tradestream.live/1", "streams": []})
    with pytest.raises(ValueError, match="stream entry is malformed"):
        live.import_state({"format": "tradestream.incremental/1", "streams": [{"pair": "BTC-USD"}]})
    with pytest.raises(ValueError, match="position entry is malformed"):
        live.import_state({"format": "tradestream.incremental/1",
                           "positions": [{"key": "X", "pair": "BTC-USD", "timeframe": "1m", "position": 5,
                                          "bar_time": None, "position_before": 0, "emitted": None}]})


def test_import_state_refuses_foreign_or_malformed_state():
    live = LiveEvaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    with pytest.raises(ValueError, match="format='tradestream.live/1'"):
        live.import_state({"streams": []})
    with pytest.raises(ValueError, match="stream entry is malformed"):
        live.import_state({"format": "tradestream.live/1", "streams": [{"pair": "BTC-USD"}]})
    with pytest.raises(ValueError, match="position entry is malformed"):
        live.import_state({"format": "tradestream.live/1",
                           "positions": [{"key": "X", "pair": "BTC-USD", "timeframe": "1m", "position": 5,
                                          "bar_time": None, "position_before": 0, "emitted": None}]})


def test_reload_keeps_positions_and_reports_what_changed(Evaluator, frame, macd_signals):
    macd, sar = _entry("MACD_CROSSOVER"), _entry("PARABOLIC_SAR")
    buy = int(macd_signals[macd_signals == 1].index.map(frame.index.get_loc)[0])
    live = Evaluator(ActiveStrategySet.of([macd]))
    _feed(live, frame, range(buy + 1))
    assert live.position("MACD_CROSSOVER", macd.params, PAIR, TF) == 1
    report = live.reload(ActiveStrategySet.of([macd, sar]))
    assert report.added == [sar.key] and report.kept == [macd.key] and report.removed == []
    assert live.position("MACD_CROSSOVER", macd.params, PAIR, TF) == 1
    # the first MACD signal after the reload is the backtest's SELL, not a second BUY
    rest = {i: s.type for i in range(buy + 1, len(frame)) for s in live.on_candle(_row(frame, i))
            if s.strategy == "MACD_CROSSOVER"}
    expected = {i: ("BUY" if v == 1 else "SELL") for i, v in enumerate(macd_signals) if v != 0 and i > buy}
    assert rest == expected


def test_reload_reports_long_positions_that_nobody_will_close(Evaluator, frame, macd_signals):
    macd = _entry("MACD_CROSSOVER")
    buy = int(macd_signals[macd_signals == 1].index.map(frame.index.get_loc)[0])
    live = Evaluator(ActiveStrategySet.of([macd]))
    _feed(live, frame, range(buy + 1))
    report = live.reload(ActiveStrategySet.of([_entry("PARABOLIC_SAR")]))
    assert report.removed == [macd.key]
    assert report.long_but_inactive == [f"{macd.key} {PAIR}|{TF}"]
    back = live.reload(ActiveStrategySet.of([macd]))  # it comes back: the position is still there
    assert back.added == [macd.key] and live.position("MACD_CROSSOVER", macd.params, PAIR, TF) == 1


def test_a_strategy_that_fails_is_skipped_and_the_others_keep_running(Evaluator, frame, macd_signals):
    without_ticks = frame.drop(columns=["trade_count"])
    live = Evaluator(ActiveStrategySet.of([_entry("TICK_VOLUME_ANALYSIS"), _entry("MACD_CROSSOVER")]))
    got = _feed(live, without_ticks, range(len(without_ticks)))
    expected = {i: ("BUY" if v == 1 else "SELL") for i, v in enumerate(macd_signals) if v != 0}
    assert got == expected
    message = next(iter(live.errors.values()))
    assert "TICK_VOLUME_ANALYSIS needs candle column(s) ['trade_count']" in message


def test_seed_with_replay_continues_the_backtest_without_waiting_for_a_window(Evaluator, month):
    frame = month.iloc[:2400]
    entry = _entry("PARABOLIC_SAR")
    spec = get_strategy("PARABOLIC_SAR")
    expected = trade_signals(*spec.signals(frame))
    live = Evaluator(ActiveStrategySet.of([entry]))
    live.seed(PAIR, TF, frame.iloc[:2000], positions="replay")
    held = positions_after(*spec.signals(frame.iloc[:2000]))
    assert live.position("PARABOLIC_SAR", entry.params, PAIR, TF) == held.iat[-1]
    got = _feed(live, frame, range(2000, 2400))
    assert got == {i: ("BUY" if v == 1 else "SELL") for i, v in enumerate(expected) if v != 0 and i >= 2000}


def test_protobuf_candles_in_and_protobuf_signals_out(Evaluator, frame, macd_signals):
    buy = int(macd_signals[macd_signals == 1].index.map(frame.index.get_loc)[0])
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    signals: list[LiveSignal] = []
    for i in range(buy + 1):
        c = frame.iloc[i]
        message = market_pb2.Candle(currency_pair=PAIR, timeframe=TF, open=c.open, high=c.high, low=c.low,
                                    close=c.close, volume=c.volume, vwap=c.vwap, trade_count=int(c.trade_count))
        message.window_start.FromDatetime(frame.index[i].to_pydatetime())
        signals += live.on_candle(message)
    (signal,) = signals
    assert signal.candle_time == frame.index[buy] and signal.price == frame["close"].iloc[buy]
    proto = signal.to_proto()
    assert proto.type == strategy_pb2.SIGNAL_TYPE_BUY and proto.currency_pair == PAIR
    assert proto.strategy.strategy == "MACD_CROSSOVER"
    assert {p.name: p.int_value for p in proto.strategy.parameters} == {"fast": 12, "slow": 26, "signal": 9}
    assert proto.candle_time.ToDatetime(tzinfo=UTC) == frame.index[buy].to_pydatetime()
    assert proto.signal_id == signal.signal_id and len(signal.signal_id) == 32
    assert "crosses above" in signal.reason


def test_signal_id_is_deterministic_and_distinguishes_parameters(frame):
    base = dict(strategy="MACD_CROSSOVER", pair=PAIR, timeframe=TF, candle_time=frame.index[10], price=1.0,
                type="BUY", reason="")
    a = LiveSignal(params={"fast": 12, "slow": 26, "signal": 9}, **base)
    b = LiveSignal(params={"signal": 9, "slow": 26, "fast": 12}, **base)
    c = LiveSignal(params={"fast": 11, "slow": 26, "signal": 9}, **base)
    assert a.signal_id == b.signal_id != c.signal_id


@pytest.mark.parametrize(("change", "message"), [
    ({"close": float("nan")}, "'close' has 1 NaN"),
    ({"high": 1.0}, "above high=1.0"),
    ({"timeframe": "2m"}, "timeframe '2m'"),
    ({"pair": ""}, "currency pair"),
    ({"window_start": pd.Timestamp("2024-01-01 00:00")}, "no time zone"),
    ({"close": "abc"}, "close='abc' is not a number"),
])
def test_bad_candles_are_refused_naming_the_field(Evaluator, frame, change, message):
    live = Evaluator(ActiveStrategySet.of([_entry("MACD_CROSSOVER")]))
    with pytest.raises(ValueError, match=message):
        live.on_candle(_row(frame, 0, **change))


def test_candle_times_may_be_epoch_milliseconds_or_iso_text(frame):
    ms = int(frame.index[3].value // 1_000_000)
    assert to_live_candle(_row(frame, 3, window_start=ms)).window_start == frame.index[3]
    assert to_live_candle(_row(frame, 3, window_start=frame.index[3].isoformat())).window_start == frame.index[3]


# --------------------------------------------------------------------------- one side per bar

def test_each_side_on_its_own_equals_the_full_evaluation_for_every_strategy(month):
    frame = month.iloc[:6_000]
    for spec in list_strategies():
        params = spec.space.defaults()
        cache = IndicatorCache(frame)
        entries, exits = spec.signals(frame, params, cache=cache)
        for side, expected in (("entry", entries), ("exit", exits)):
            assert spec.holds_on_last_bar(cache.frame, params, cache, side) == bool(expected.iat[-1]), (spec.name, side)


def test_the_live_evaluator_evaluates_only_the_rule_that_can_decide_the_bar(frame, macd_signals):
    entry = _entry("MACD_CROSSOVER")
    buy = int(macd_signals[macd_signals == 1].index.map(frame.index.get_loc)[0])
    live = LiveEvaluator(ActiveStrategySet.of([entry]))
    _feed(live, frame, range(buy))
    candle = to_live_candle(_row(frame, buy))
    assert live._deciding_sides([entry], candle) == {entry.key: "entry"}  # flat: only the entry rule
    assert [s.type for s in live.on_candle(_row(frame, buy))] == ["BUY"]
    assert live._deciding_sides([entry], candle) == {entry.key: None}  # a revision of a bar that signalled
    following = to_live_candle(_row(frame, buy + 1))
    assert live._deciding_sides([entry], following) == {entry.key: "exit"}  # long: only the exit rule


def test_evaluate_last_bar_reports_only_the_side_asked_for(frame):
    entry = _entry("MACD_CROSSOVER")
    window = frame.iloc[-entry.window:]
    both, _ = evaluate_last_bar(window, [entry], complete=False)
    only_exit, _ = evaluate_last_bar(window, [entry], complete=False, sides={entry.key: "exit"})
    skipped, _ = evaluate_last_bar(window, [entry], complete=False, sides={entry.key: None})
    assert only_exit[entry.key] == (False, both[entry.key][1])
    assert skipped == {}
    with pytest.raises(ValueError, match="side 'sideways'"):
        get_strategy("MACD_CROSSOVER").holds_on_last_bar(window, entry.params, IndicatorCache(window), "sideways")
