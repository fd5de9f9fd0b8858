"""The market simulator: deterministic, and statistically what it is configured to be."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from streaming.venues.simulator.market import (
    DEFAULT_PROFILES,
    SECONDS_PER_DAY,
    SECONDS_PER_YEAR,
    MarketSimulator,
    PairProfile,
    SimulatorConfig,
    profile_for,
)
from tradestream.ingest.trade import TakerSide

START_NS = 1_715_000_000_000_000_000   # 2024-05-06 12:53:20 UTC
PAIRS = tuple(DEFAULT_PROFILES)


def config(**overrides) -> SimulatorConfig:
    fields = {"pairs": PAIRS, "rate": 50.0, "seed": 11, "start_ns": START_NS}
    fields.update(overrides)
    return SimulatorConfig(**fields)


def test_same_seed_gives_the_same_trades_however_they_are_taken() -> None:
    cfg = config(out_of_order_rate=0.05, late_rate=0.01, duplicate_rate=0.02)
    in_one_go = MarketSimulator(cfg).take(30_000)
    stepwise, simulator, limit = [], MarketSimulator(cfg), START_NS
    while len(stepwise) < 30_000:
        limit += 3_700_000_000
        stepwise.extend(simulator.take_until(limit, 501))
    assert in_one_go == stepwise[:30_000]
    assert MarketSimulator(config(seed=12)).take(1000) != MarketSimulator(cfg).take(1000)


def test_trades_are_plausible_for_downstream_candles() -> None:
    trades = MarketSimulator(config()).take(50_000)
    by_pair = defaultdict(list)
    for trade in trades:
        by_pair[trade.currency_pair].append(trade)
    assert set(by_pair) == set(PAIRS)
    btc = [t.price for t in by_pair["BTC-USD"]]
    eth = [t.price for t in by_pair["ETH-USD"]]
    assert 55_000 < min(btc) and max(btc) < 80_000
    assert 2_500 < min(eth) and max(eth) < 4_000
    for pair, pair_trades in by_pair.items():
        profile = DEFAULT_PROFILES[pair]
        assert all(t.price > 0 and t.size > 0 and t.exchange == "simulator" for t in pair_trades)
        assert all(round(t.price, profile.price_decimals) == t.price for t in pair_trades), pair
        # Trade ids are unique per run and number each pair's trades 1, 2, 3, ...
        numbers = [int(t.trade_id.rsplit("-", 1)[1]) for t in pair_trades]
        assert numbers == list(range(1, len(numbers) + 1)), pair
    event_times = [t.event_time_ns for t in trades]
    assert event_times == sorted(event_times), "without injection, trades arrive in event-time order"
    assert len({t.trade_id.rsplit("-", 1)[0] for t in trades}) == 1
    assert MarketSimulator(config(start_ns=START_NS + 10**6)).take(1)[0].trade_id != trades[0].trade_id


def test_trade_rate_matches_the_configured_rate() -> None:
    flat = MarketSimulator(config(rate=40.0, intraday_amplitude=0.0)).take(40_000)
    span_s = (flat[-1].event_time_ns - START_NS) / 1e9
    assert len(flat) / span_s == pytest.approx(40.0, rel=0.03)
    # With the intraday swing, a whole day still averages the configured rate.
    day = MarketSimulator(config(rate=2.0, intraday_amplitude=0.5))
    trades = day.take_until(START_NS + SECONDS_PER_DAY * 10**9, 1_000_000)
    assert len(trades) / SECONDS_PER_DAY == pytest.approx(2.0, rel=0.03)
    per_hour = Counter(((t.event_time_ns // 10**9) // 3600) % 24 for t in trades)
    peak, trough = per_hour[15], per_hour[3]      # the peak is at 15:00 UTC, the trough 12 hours later
    assert peak / trough == pytest.approx(1.5 / 0.5, rel=0.2)


def _annualized_volatility(prices: list[float], times_ns: list[int]) -> float:
    log_returns = np.diff(np.log(prices))
    span_years = (times_ns[-1] - times_ns[0]) / 1e9 / SECONDS_PER_YEAR
    return math.sqrt(float(np.sum(log_returns**2)) / span_years)


@pytest.mark.parametrize("pair", ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD"])
def test_realized_volatility_matches_the_configured_volatility(pair: str) -> None:
    # Without jumps, and with fine price precision: rounding to a coarse tick adds its own
    # (realistic) noise to trade-to-trade returns, which is not the configured volatility.
    calm = {p: PairProfile(**{**vars(profile_for(p)), "jumps_per_day": 0.0, "price_decimals": 10}) for p in PAIRS}
    trades = [t for t in MarketSimulator(config(profiles=calm)).take(150_000) if t.currency_pair == pair]
    realized = _annualized_volatility([t.price for t in trades], [t.event_time_ns for t in trades])
    assert realized == pytest.approx(DEFAULT_PROFILES[pair].annual_volatility, rel=0.05)


def test_jumps_add_their_configured_variance() -> None:
    jumpy = PairProfile(65_000.0, 0.5, 1.0, 0.01, jumps_per_day=2_000.0, jump_sigma=0.002)
    trades = MarketSimulator(config(pairs=("BTC-USD",), rate=20.0, profiles={"BTC-USD": jumpy})).take(100_000)
    realized = _annualized_volatility([t.price for t in trades], [t.event_time_ns for t in trades])
    expected = math.sqrt(0.5**2 + 2_000.0 * 365.25 * 0.002**2)
    assert realized == pytest.approx(expected, rel=0.06)
    assert realized > 0.5 * 1.3


def test_sizes_are_log_normal_around_the_median_and_both_sides_trade() -> None:
    trades = [t for t in MarketSimulator(config()).take(60_000) if t.currency_pair == "ETH-USD"]
    sizes = np.array([t.size for t in trades])
    profile = DEFAULT_PROFILES["ETH-USD"]
    assert np.median(sizes) == pytest.approx(profile.median_size, rel=0.05)
    assert np.std(np.log(sizes)) == pytest.approx(profile.size_sigma, rel=0.05)
    sides = Counter(t.taker_side for t in trades)
    assert 0.45 < sides[TakerSide.BUY] / len(trades) < 0.55
    up = [b.taker_side for a, b in zip(trades, trades[1:], strict=False) if b.price > a.price]
    assert Counter(up)[TakerSide.BUY] / len(up) > 0.55, "taker buys lift the price more often than not"


def test_injected_out_of_order_late_and_duplicate_trades_arrive_at_the_configured_rates() -> None:
    simulator = MarketSimulator(config(out_of_order_rate=0.02, late_rate=0.01, duplicate_rate=0.01))
    trades = simulator.take(100_000)
    generated = simulator.generated
    assert simulator.injected_out_of_order / generated == pytest.approx(0.02, rel=0.15)
    assert simulator.injected_late / generated == pytest.approx(0.01, rel=0.15)
    assert simulator.injected_duplicates / generated == pytest.approx(0.01, rel=0.15)
    seen: dict[tuple[str, str], object] = {}
    repeats = 0
    for trade in trades:
        key = (trade.currency_pair, trade.trade_id)
        if key in seen:
            repeats += 1
            assert seen[key] == trade, "a duplicate is the identical trade again"
        seen[key] = trade
    assert repeats / len(trades) == pytest.approx(0.01, rel=0.2)
    # Late trades arrive after trades at least 10 s newer than themselves.
    newest, late = 0, 0
    for trade in trades:
        if newest - trade.event_time_ns >= 10 * 10**9:
            late += 1
        newest = max(newest, trade.event_time_ns)
    assert late / len(trades) == pytest.approx(0.01, rel=0.25)
    inversions = sum(1 for a, b in zip(trades, trades[1:], strict=False) if b.event_time_ns < a.event_time_ns)
    assert inversions > 0.02 * len(trades) * 0.8


def test_unknown_pairs_get_a_stable_profile() -> None:
    assert profile_for("FOO-USD") == profile_for("FOO-USD")
    assert 0.1 <= profile_for("FOO-USD").initial_price <= 10_000
    trades = MarketSimulator(config(pairs=("FOO-USD", "BTC-USD"))).take(2_000)
    assert {t.currency_pair for t in trades} == {"FOO-USD", "BTC-USD"}


@pytest.mark.parametrize(("overrides", "message"), [
    ({"rate": 0}, "rate=0"), ({"rate": float("inf")}, "rate=inf"), ({"pairs": ()}, "at least one"),
    ({"pairs": ("BTC-USD", "BTC-USD")}, "repeat"), ({"duplicate_rate": 1.5}, "duplicate_rate=1.5"),
    ({"late_delay_s": (5.0, 1.0)}, "late_delay_s"), ({"intraday_amplitude": 1.0}, "intraday_amplitude=1.0"),
])
def test_impossible_configurations_are_refused_by_name(overrides, message) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        config(**overrides)
