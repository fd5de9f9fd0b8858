"""A synthetic crypto market: the source of dry mode.

Per pair the price follows geometric Brownian motion in trade time with that pair's
annual volatility, plus occasional log-normal jumps. Trades across all pairs arrive as
one non-homogeneous Poisson process whose intensity swings over the UTC day
(``1 + A cos(2π (hour - peak) / 24)``, mean 1, so ``rate`` is the long-run average);
each arrival picks its pair by activity weight, so every pair is itself a Poisson
stream. Sizes are log-normal around a per-pair median, taker sides lean with the last
price move (buyers lift offers on up-ticks), and trade ids are unique per run.

Everything is drawn from one seeded ``numpy.random.Generator`` in fixed-size chunks,
so a seed and a start time fix the trades exactly, however the caller slices them.

To exercise the pipeline's handling of imperfect feeds, a fraction of trades can be
delivered out of order (held back up to a couple of seconds), late (held back tens of
seconds, past typical allowed lateness) or twice (the identical trade again shortly
after). Delivery order is by *emission* time; event times never change.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tradestream.ingest.columns import TradeColumns
from tradestream.ingest.trade import NANOS_PER_SECOND, TakerSide, TradeRecord

SECONDS_PER_YEAR = 365.25 * 24 * 3600
SECONDS_PER_DAY = 24 * 3600
EXCHANGE = "simulator"


@dataclass(frozen=True)
class PairProfile:
    """How one pair trades. Volatility is annualized, of log price."""

    initial_price: float
    annual_volatility: float
    activity_weight: float
    median_size: float
    size_sigma: float = 1.3
    jumps_per_day: float = 3.0
    jump_sigma: float = 0.006
    price_decimals: int = 2
    size_decimals: int = 8

    def __post_init__(self) -> None:
        checks = {
            "initial_price": self.initial_price > 0, "annual_volatility": self.annual_volatility >= 0,
            "activity_weight": self.activity_weight > 0, "median_size": self.median_size > 0,
            "size_sigma": self.size_sigma >= 0, "jumps_per_day": self.jumps_per_day >= 0,
            "jump_sigma": self.jump_sigma >= 0, "price_decimals": 0 <= self.price_decimals <= 12,
            "size_decimals": 0 <= self.size_decimals <= 12,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"pair profile has invalid {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")


#: Plausible 2024-25 levels for the ten default pairs (price, annual vol, share of trades,
#: median trade size in base units, quote/base precision as Coinbase lists them).
DEFAULT_PROFILES: Mapping[str, PairProfile] = {
    "BTC-USD": PairProfile(65_000.0, 0.55, 0.28, 0.004, price_decimals=2, size_decimals=8),
    "ETH-USD": PairProfile(3_200.0, 0.70, 0.20, 0.08, price_decimals=2, size_decimals=8),
    "SOL-USD": PairProfile(150.0, 0.90, 0.12, 1.5, price_decimals=2, size_decimals=8),
    "XRP-USD": PairProfile(0.55, 0.80, 0.08, 400.0, price_decimals=4, size_decimals=6),
    "DOGE-USD": PairProfile(0.15, 1.00, 0.07, 2_000.0, price_decimals=5, size_decimals=1),
    "ADA-USD": PairProfile(0.45, 0.85, 0.05, 600.0, price_decimals=4, size_decimals=8),
    "AVAX-USD": PairProfile(35.0, 0.95, 0.05, 8.0, price_decimals=2, size_decimals=8),
    "LINK-USD": PairProfile(15.0, 0.90, 0.05, 20.0, price_decimals=3, size_decimals=8),
    "DOT-USD": PairProfile(7.0, 0.85, 0.05, 40.0, price_decimals=3, size_decimals=8),
    "LTC-USD": PairProfile(80.0, 0.75, 0.05, 2.0, price_decimals=2, size_decimals=8),
}


def profile_for(pair: str) -> PairProfile:
    """The known profile, or a stable made-up one (same pair, same profile) for other pairs."""
    known = DEFAULT_PROFILES.get(pair)
    if known is not None:
        return known
    # crc32, not hash(): str hashes change per process and the simulator must not.
    digest = zlib.crc32(pair.encode())
    exponent = (digest % 5000) / 1000 - 1.0          # price between 0.1 and 10_000
    price = round(10**exponent, 6)
    price_decimals = max(2, min(8, 4 - math.floor(exponent)))
    return PairProfile(initial_price=price, annual_volatility=0.8, activity_weight=0.03,
                       median_size=round(200 / price, 8) or 1e-8, price_decimals=price_decimals)


@dataclass(frozen=True)
class SimulatorConfig:
    """What to simulate. ``rate`` is mean trades per second of event time over all pairs."""

    pairs: Sequence[str]
    rate: float
    seed: int
    start_ns: int
    intraday_amplitude: float = 0.5
    peak_hour_utc: float = 15.0
    out_of_order_rate: float = 0.0
    out_of_order_max_delay_s: float = 2.0
    late_rate: float = 0.0
    late_delay_s: tuple[float, float] = (10.0, 120.0)
    duplicate_rate: float = 0.0
    duplicate_max_delay_s: float = 5.0
    profiles: Mapping[str, PairProfile] = field(default_factory=dict)
    exchange: str = EXCHANGE
    chunk_size: int = 4096

    def __post_init__(self) -> None:
        if not self.pairs:
            raise ValueError("the simulator needs at least one currency pair")
        if len(set(self.pairs)) != len(self.pairs):
            raise ValueError(f"currency pairs repeat: {list(self.pairs)}")
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate={self.rate!r} must be a finite number of trades per second > 0")
        if not 0 <= self.intraday_amplitude < 1:
            raise ValueError(f"intraday_amplitude={self.intraday_amplitude} must be in [0, 1)")
        rates = {"out_of_order_rate": self.out_of_order_rate, "late_rate": self.late_rate,
                 "duplicate_rate": self.duplicate_rate}
        for name, value in rates.items():
            if not 0 <= value <= 1:
                raise ValueError(f"{name}={value} must be a fraction in [0, 1]")
        if self.out_of_order_rate + self.late_rate > 1:
            raise ValueError(f"out_of_order_rate + late_rate = {self.out_of_order_rate + self.late_rate} exceeds 1")
        low, high = self.late_delay_s
        if not 0 < low <= high:
            raise ValueError(f"late_delay_s={self.late_delay_s} must be (min, max) seconds with 0 < min <= max")
        if self.out_of_order_max_delay_s <= 0 or self.duplicate_max_delay_s <= 0:
            raise ValueError("out_of_order_max_delay_s and duplicate_max_delay_s must be > 0")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size={self.chunk_size} must be >= 1")

    def profile(self, pair: str) -> PairProfile:
        return self.profiles.get(pair) or profile_for(pair)


class MarketSimulator:
    """Generates trades in emission order.

    Trades are produced chunk by chunk (``chunk_size`` candidate arrivals) into a pool of
    columns sorted by emission time. A trade may leave the pool once its emission time
    is before the *horizon* -- the time of the last candidate generated -- because every
    later chunk's trades happen after it. Out-of-order, late and duplicate deliveries are
    just rows with a later emission time, so injection costs nothing per trade.
    """

    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.pairs: tuple[str, ...] = tuple(config.pairs)
        self.profiles = [config.profile(p) for p in self.pairs]
        weights = np.array([p.activity_weight for p in self.profiles], dtype=float)
        self._pair_probabilities = weights / weights.sum()
        self._rng = np.random.default_rng(config.seed)
        self._amplitude = config.intraday_amplitude
        self._peak_rate = config.rate * (1 + self._amplitude)
        self._start_s = config.start_ns / NANOS_PER_SECOND
        self._clock_s = 0.0   # event time (s since start) of the last candidate arrival
        self._log_price = np.log([p.initial_price for p in self.profiles])
        self._last_trade_s = np.zeros(len(self.pairs))
        self._next_number = np.zeros(len(self.pairs), dtype=np.int64)
        # Unique per run (start time) and seed, so two dry runs never reuse an id.
        self.id_prefix = f"{config.start_ns // 1_000_000}-{config.seed}-"
        self._pool = _empty_pool()
        self._pool_emit: np.ndarray = self._pool["emit"]
        self._pool_start = 0
        self.generated = 0   # distinct trades created
        self.injected_out_of_order = 0
        self.injected_late = 0
        self.injected_duplicates = 0

    # ------------------------------------------------------------------ public

    @property
    def horizon_ns(self) -> int:
        """Trades emitted before this time are final: no later chunk can precede them."""
        return self.config.start_ns + int(self._clock_s * NANOS_PER_SECOND)

    def next_emit_ns(self) -> int:
        """Emission time of the next trade :meth:`take_until` would return."""
        while self._pool_start == len(self._pool_emit) or self._pool_emit[self._pool_start] >= self.horizon_ns:
            self._generate_chunk()
        return int(self._pool_emit[self._pool_start])

    def take_columns_until(self, limit_ns: int, max_count: int = 10_000) -> TradeColumns:
        """Trades emitted at or before ``limit_ns`` (at most ``max_count``), in emission order."""
        while True:
            bound = min(limit_ns, self.horizon_ns - 1)
            end = int(np.searchsorted(self._pool_emit, bound, side="right"))
            available = max(0, end - self._pool_start)
            if available >= max_count or limit_ns < self.horizon_ns:
                break
            self._generate_chunk()
        stop = self._pool_start + min(available, max_count)
        pool, start = self._pool, self._pool_start
        self._pool_start = stop
        side = np.where(pool["buy"][start:stop], int(TakerSide.BUY), int(TakerSide.SELL)).astype(np.int8)
        return TradeColumns(self.config.exchange, self.pairs, self.id_prefix, pool["pair"][start:stop],
                            pool["number"][start:stop], pool["price"][start:stop], pool["size"][start:stop],
                            side, pool["event"][start:stop])

    def take_until(self, limit_ns: int, max_count: int = 10_000) -> list[TradeRecord]:
        """As :meth:`take_columns_until`, as :class:`TradeRecord` s."""
        return self.take_columns_until(limit_ns, max_count).to_records()

    def take(self, count: int) -> list[TradeRecord]:
        """The next ``count`` trades regardless of time (tests, benchmarks)."""
        return self.take_until(2**62, count)

    # ---------------------------------------------------------------- internals

    def _intensity_factor(self, seconds_since_start: np.ndarray) -> np.ndarray:
        hours = ((self._start_s + seconds_since_start) / 3600.0) % 24.0
        return 1.0 + self._amplitude * np.cos(2 * np.pi * (hours - self.config.peak_hour_utc) / 24.0)

    def _generate_chunk(self) -> None:
        rng, cfg = self._rng, self.config
        n = cfg.chunk_size
        # Thinning (Lewis-Shedler): candidates at the peak rate, kept with probability
        # intensity / peak. Every draw below is made for every chunk, so the random stream
        # -- and with it every trade -- depends only on the seed, never on the caller.
        candidate_s = self._clock_s + np.cumsum(rng.exponential(1.0 / self._peak_rate, n))
        keep_u = rng.random(n)
        times_s = candidate_s[keep_u * (1 + self._amplitude) < self._intensity_factor(candidate_s)]
        m = len(times_s)
        pair_index = rng.choice(len(self.pairs), size=m, p=self._pair_probabilities)
        shocks = rng.standard_normal(m)
        jump_u = rng.random(m)
        jump_shocks = rng.standard_normal(m)
        size_shocks = rng.standard_normal(m)
        side_u = rng.random(m)
        injection_u = rng.random(m)
        delay_u = rng.random(m)
        duplicate_u = rng.random(m)
        duplicate_delay_u = rng.random(m)

        prices = np.empty(m)
        sizes = np.empty(m)
        buys = np.empty(m, dtype=bool)
        numbers = np.empty(m, dtype=np.int64)
        for k, profile in enumerate(self.profiles):
            rows = np.flatnonzero(pair_index == k)
            if rows.size == 0:
                continue
            numbers[rows] = self._next_number[k] + np.arange(1, rows.size + 1)
            self._next_number[k] += rows.size
            t = times_s[rows]
            dt = np.diff(t, prepend=self._last_trade_s[k])
            self._last_trade_s[k] = t[-1]
            sigma = profile.annual_volatility * np.sqrt(dt / SECONDS_PER_YEAR)
            # Jumps arrive at jumps_per_day; between two trades of a pair at most one counts
            # (dt is seconds, so the chance of two is negligible).
            jump_probability = -np.expm1(-profile.jumps_per_day * dt / SECONDS_PER_DAY)
            jumps = np.where(jump_u[rows] < jump_probability, profile.jump_sigma * jump_shocks[rows], 0.0)
            moves = sigma * shocks[rows] + jumps
            log_prices = self._log_price[k] + np.cumsum(moves)
            self._log_price[k] = log_prices[-1]
            # Tiny prices can round to zero at their precision; keep one tick instead.
            prices[rows] = np.maximum(np.round(np.exp(log_prices), profile.price_decimals),
                                      10.0 ** -profile.price_decimals)
            raw_sizes = profile.median_size * np.exp(profile.size_sigma * size_shocks[rows])
            sizes[rows] = np.maximum(np.round(raw_sizes, profile.size_decimals), 10.0 ** -profile.size_decimals)
            # Buyers lift offers: a trade that moved the price up was more likely a taker buy (60/40).
            buys[rows] = side_u[rows] < 0.5 + 0.1 * np.sign(moves)

        event_ns = cfg.start_ns + np.round(times_s * NANOS_PER_SECOND).astype(np.int64)
        emit_ns = event_ns.copy()
        out_of_order = injection_u < cfg.out_of_order_rate
        late = ~out_of_order & (injection_u < cfg.out_of_order_rate + cfg.late_rate)
        late_low, late_high = cfg.late_delay_s
        emit_ns[out_of_order] += 1 + (delay_u[out_of_order] * cfg.out_of_order_max_delay_s
                                      * NANOS_PER_SECOND).astype(np.int64)
        emit_ns[late] += ((late_low + delay_u[late] * (late_high - late_low)) * NANOS_PER_SECOND).astype(np.int64)
        duplicate = duplicate_u < cfg.duplicate_rate
        self.generated += m
        self.injected_out_of_order += int(out_of_order.sum())
        self.injected_late += int(late.sum())
        self.injected_duplicates += int(duplicate.sum())

        chunk = _pool_of(emit_ns, event_ns, pair_index, numbers, prices, sizes, buys)
        if duplicate.any():
            copies = chunk[duplicate].copy()
            copies["emit"] = event_ns[duplicate] + 1 + (duplicate_delay_u[duplicate] * cfg.duplicate_max_delay_s
                                                        * NANOS_PER_SECOND).astype(np.int64)
            chunk = np.concatenate([chunk, copies])
        # Remaining pool first, then the new rows; a stable sort keeps that order among
        # equal emission times, so the result never depends on how much was taken before.
        pool = np.concatenate([self._pool[self._pool_start:], chunk])
        self._pool = pool[np.argsort(pool["emit"], kind="stable")]
        self._pool_emit = self._pool["emit"]
        self._pool_start = 0
        self._clock_s = float(candidate_s[-1])


_POOL_DTYPE = np.dtype([("emit", np.int64), ("event", np.int64), ("pair", np.int64), ("number", np.int64),
                        ("price", np.float64), ("size", np.float64), ("buy", np.bool_)])


def _empty_pool() -> np.ndarray:
    return np.empty(0, dtype=_POOL_DTYPE)


def _pool_of(emit: np.ndarray, event: np.ndarray, pair: np.ndarray, number: np.ndarray, price: np.ndarray,
             size: np.ndarray, buy: np.ndarray) -> np.ndarray:
    pool = np.empty(len(emit), dtype=_POOL_DTYPE)
    pool["emit"], pool["event"], pool["pair"], pool["number"] = emit, event, pair, number
    pool["price"], pool["size"], pool["buy"] = price, size, buy
    return pool
