"""Deterministic synthetic trade streams for checking and benchmarking the candle pipeline.

A scenario is a set of unique trades (the truth) and the order in which a test publishes
them: a bulk phase with out-of-order and duplicated trades, multi-minute gaps, a pair that
starts late and one that goes quiet for longer than the fill-forward cap; then a phase of
deliberately late trades (some within the allowed lateness, some beyond it, duplicates of
both kinds); then a second bulk phase that ends with one trade per pair at the same
instant, so the final watermark is known exactly.

The split between the bulk phases is 20 s after a minute boundary ``boundary_ns``: once
the job has caught up with phase 1 its watermark sits at ``boundary + 20 s - lag``, so the
minute ending at ``boundary`` is closed but still revisable (lag < 20 s < lateness) and the
minutes ending 2 minutes earlier are final. Phase 2 relies on exactly that.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tradestream.candles.model import TradeTick
from tradestream.timeframes import MINUTE_NS, NS_PER_SECOND

EXCHANGE = "simulator"


@dataclass
class Scenario:
    pairs: list[str]
    start_ns: int
    boundary_ns: int                 # phase 1 holds event times before boundary + 20 s
    end_ns: int                      # every pair's last trade is at end_ns - 1 µs
    phase1: list[TradeTick]          # publish order, with duplicates and disorder
    phase2: list[TradeTick]          # late trades and duplicates, published after phase 1 is processed
    phase3: list[TradeTick]
    revising: list[TradeTick] = field(default_factory=list)      # phase 2 trades within the lateness
    beyond_lateness: list[TradeTick] = field(default_factory=list)  # phase 2 records the job must reject as late

    @property
    def split_ns(self) -> int:
        return self.boundary_ns + 20 * NS_PER_SECOND

    @property
    def arrivals(self) -> list[TradeTick]:
        return self.phase1 + self.phase2 + self.phase3

    @property
    def accepted(self) -> list[TradeTick]:
        """Every record the job should count, duplicates included (it removes them itself)."""
        late = {id(t) for t in self.beyond_lateness}
        return self.phase1 + [t for t in self.phase2 if id(t) not in late] + self.phase3


def _pair_trades(rng: random.Random, pair: str, index: int, start_ns: int, end_ns: int, quiet_minutes: set[int],
                 rate_per_minute: float, text_ids: bool) -> list[TradeTick]:
    price = 10.0 ** rng.randint(0, 4) * rng.uniform(1, 9)
    trades = []
    next_id = 1_000_000 * (index + 1) - 3  # crosses a power of ten for the first pair: 999997 -> 1000003
    minute = 0
    t = start_ns
    while t < end_ns:
        minute = (t - start_ns) // MINUTE_NS
        gap = rng.expovariate(rate_per_minute) * MINUTE_NS
        t = int(t + gap)
        if t >= end_ns or minute in quiet_minutes or (t - start_ns) // MINUTE_NS in quiet_minutes:
            continue
        burst = 1 if rng.random() > 0.08 else rng.randint(2, 4)  # several fills at one instant
        for _ in range(burst):
            price = max(0.01, round(price * (1 + rng.gauss(0, 0.002)), 2))
            size = round(rng.uniform(0.0001, 3.0), 8)
            trade_id = f"t{next_id:x}" if text_ids else str(next_id)
            trades.append(TradeTick(EXCHANGE, pair, trade_id, t, price, size))
            next_id += 1
    return trades


def _publish_order(rng: random.Random, trades: list[TradeTick], max_delay_ns: int,
                   duplicate_share: float) -> list[TradeTick]:
    """Publish mostly in event order; some trades are delayed (disorder), some sent twice."""
    keyed = []
    for i, trade in enumerate(trades):
        delay = rng.uniform(0, max_delay_ns) if rng.random() < 0.1 else 0
        keyed.append((trade.event_ns + delay, i, trade))
        if rng.random() < duplicate_share:
            keyed.append((trade.event_ns + rng.uniform(0, max_delay_ns), i, trade))
    keyed.sort(key=lambda k: (k[0], k[1]))
    return [trade for _, _, trade in keyed]


def generate_scenario(*, seed: int = 7, pairs: list[str] | None = None, start_ns: int, minutes: int = 24,
                      boundary_minute: int = 14, rate_per_minute: float = 40.0,
                      allowed_lateness_s: int = 30, watermark_lag_s: float = 2.0,
                      fill_cap_minutes: int = 4) -> Scenario:
    """A scenario starting at ``start_ns`` (a minute boundary) and lasting ``minutes``.

    ``boundary_minute`` is the minute boundary the late phase is built around; the quiet
    pair goes silent for ``fill_cap_minutes + 2`` minutes so the cap shows.
    """
    if start_ns % MINUTE_NS:
        raise ValueError(f"start_ns={start_ns} must be a UTC minute boundary")
    if not 4 <= boundary_minute <= minutes - 4:
        raise ValueError(f"boundary_minute={boundary_minute} must leave 4 minutes on each side of {minutes}")
    if not watermark_lag_s < 20 < allowed_lateness_s:
        raise ValueError(f"the late phase needs watermark lag ({watermark_lag_s} s) < 20 s < allowed lateness "
                         f"({allowed_lateness_s} s)")
    rng = random.Random(seed)
    pairs = pairs or ["BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "ADA-USD"]
    if len(pairs) < 3:
        raise ValueError("a scenario needs at least 3 pairs")
    boundary = start_ns + boundary_minute * MINUTE_NS
    split = boundary + 20 * NS_PER_SECOND
    end = start_ns + minutes * MINUTE_NS
    last_instant = end - 1_000  # 1 µs before the end: all pairs trade here, last

    truth: dict[str, list[TradeTick]] = {}
    for index, pair in enumerate(pairs):
        quiet: set[int] = set()
        pair_start = start_ns
        if index == 1:  # a multi-minute gap shorter than the cap: filled
            quiet = set(range(3, 6))
        elif index == 2:  # quiet longer than the cap, ending before the boundary
            first = max(1, boundary_minute - fill_cap_minutes - 3)
            quiet = set(range(first, first + fill_cap_minutes + 2))
        elif index == len(pairs) - 1:  # starts trading late
            pair_start = start_ns + 2 * MINUTE_NS + 17 * NS_PER_SECOND
        trades = _pair_trades(rng, pair, index, pair_start, last_instant, quiet, rate_per_minute,
                              text_ids=(index == 3))
        # trades right before the split and at the last instant pin the watermark of each phase
        price = trades[-1].price if trades else 1.0
        trades = [t for t in trades if t.event_ns != split - 1_000]
        trades.append(TradeTick(EXCHANGE, pair, f"{pair}-split", split - 1_000, price, 0.5))
        trades.append(TradeTick(EXCHANGE, pair, f"{pair}-last", last_instant, price, 0.25))
        truth[pair] = sorted(trades, key=lambda t: t.event_ns)

    max_delay = int(15 * NS_PER_SECOND)  # < lateness + lag: bulk disorder never makes a trade late
    phase1_trades = [t for p in pairs for t in truth[p] if t.event_ns < split]
    phase3_trades = [t for p in pairs for t in truth[p] if t.event_ns >= split]
    phase1 = _publish_order(rng, sorted(phase1_trades, key=lambda t: t.event_ns), max_delay, 0.03)
    phase1 = [t for t in phase1 if t.event_ns < split - 1_000] + [t for t in phase1 if t.event_ns == split - 1_000]
    phase3 = _publish_order(rng, sorted(phase3_trades, key=lambda t: t.event_ns), max_delay, 0.03)
    phase3 = [t for t in phase3 if t.event_ns < last_instant] + [t for t in phase3 if t.event_ns == last_instant]

    # Phase 2: late trades around the boundary, published once phase 1 is processed.
    revising, beyond = [], []
    for pair in pairs[:2]:
        before = [t for t in truth[pair] if boundary - MINUTE_NS <= t.event_ns < boundary]
        price = before[-1].price if before else truth[pair][0].price
        # within the lateness: the minute ending at the boundary is closed but revisable
        revising.append(TradeTick(EXCHANGE, pair, f"{pair}-rev-close", boundary - 1_000, round(price * 1.01, 2), 1.5))
        revising.append(TradeTick(EXCHANGE, pair, f"{pair}-rev-mid", boundary - 30 * NS_PER_SECOND,
                                  round(price * 0.97, 2), 0.7))
        # beyond the lateness: minutes ending two and five minutes before the boundary are final
        beyond.append(TradeTick(EXCHANGE, pair, f"{pair}-too-late", boundary - 2 * MINUTE_NS - 5 * NS_PER_SECOND,
                                round(price * 1.5, 2), 9.0))
        old = [t for t in truth[pair] if t.event_ns < boundary - 5 * MINUTE_NS]
        if old:
            beyond.append(old[len(old) // 2])  # a duplicate of a counted trade, now beyond the lateness
    revising_duplicate = revising[0]  # re-sent within the lateness: must change nothing
    phase2 = revising + [revising_duplicate] + beyond
    for trade in revising:
        truth[trade.currency_pair].append(trade)
    return Scenario(pairs=pairs, start_ns=start_ns, boundary_ns=boundary, end_ns=end, phase1=phase1,
                    phase2=phase2, phase3=phase3, revising=revising, beyond_lateness=beyond)
