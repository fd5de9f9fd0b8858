"""The dry-mode adapter: the market simulator (``market.py``), paced against the wall clock."""

from __future__ import annotations

import asyncio
import logging
import math
import time

from streaming.ingestion.adapter import ExchangeAdapter, TradeSink, wait_or_stop
from streaming.venues.simulator.market import EXCHANGE, MarketSimulator, SimulatorConfig
from tradestream.ingest.pairs import pair_source_from_settings
from tradestream.ingest.trade import NANOS_PER_SECOND
from tradestream.settings import IngestionSettings, Settings

log = logging.getLogger(__name__)

_MAX_IDLE_WAIT_S = 0.25   # how long to sleep at most before looking at the stop flag again


class SimulatorAdapter(ExchangeAdapter):
    """Emits simulated trades when their emission time comes, ``speed`` times faster than real.

    ``speed=inf`` emits as fast as Kafka accepts (benchmarks). Injected duplicates are
    published as such: de-duplication is the pipeline's job, and dry mode tests it.
    """

    name = EXCHANGE
    deduplicate = False

    def __init__(self, config: SimulatorConfig, speed: float = 1.0, batch_size: int = 2_000,
                 max_trades: int | None = None):
        if not speed > 0:
            raise ValueError(f"speed={speed} must be > 0 (1 = real time, 10 = ten times faster, inf = unpaced)")
        self.config = config
        self.speed = speed
        self.batch_size = batch_size
        self.max_trades = max_trades
        self.simulator = MarketSimulator(config)
        self.emitted = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> SimulatorAdapter:
        """The simulator as the ``[ingestion]`` section configures it, starting now."""
        ingestion = settings.ingestion
        pairs = pair_source_from_settings(ingestion).pairs()
        return cls(simulator_config(ingestion, pairs, duration_s=ingestion.duration_s), speed=ingestion.speed)

    def describe(self) -> str:
        speed = "unpaced" if math.isinf(self.speed) else f"{self.speed:g}x real time"
        return (f"simulator: {len(self.config.pairs)} pairs, {self.config.rate:g} trades/s, {speed}, "
                f"seed {self.config.seed}, injecting out-of-order {self.config.out_of_order_rate:g} / "
                f"late {self.config.late_rate:g} / duplicate {self.config.duplicate_rate:g}")

    async def run(self, sink: TradeSink, stop: asyncio.Event) -> None:
        simulator, start_ns = self.simulator, self.config.start_ns
        unpaced = math.isinf(self.speed)
        wall_start = time.monotonic()
        while not stop.is_set():
            if self.max_trades is not None and self.emitted >= self.max_trades:
                return
            room = self.batch_size if self.max_trades is None else min(self.batch_size, self.max_trades - self.emitted)
            limit_ns = 2**62 if unpaced else start_ns + int((time.monotonic() - wall_start) * self.speed
                                                            * NANOS_PER_SECOND)
            batch = simulator.take_columns_until(limit_ns, room)
            if len(batch):
                self.emitted += len(batch)
                await sink.trades(batch)
                if len(batch) == room:
                    await asyncio.sleep(0)  # behind schedule: keep going, but let signals in
                continue
            due_in_s = (simulator.next_emit_ns() - start_ns) / NANOS_PER_SECOND / self.speed \
                - (time.monotonic() - wall_start)
            await wait_or_stop(stop, min(max(due_in_s, 0.0), _MAX_IDLE_WAIT_S))


def simulator_config(settings: IngestionSettings, pairs: list[str], *, start_ns: int | None = None,
                     duration_s: float | None = None) -> SimulatorConfig:
    """The simulator as configured. Without ``start_ns`` the market starts now -- or, when a
    faster-than-real run has a known duration, early enough that it ends now rather than
    hours in the future (downstream candles then line up with the wall clock)."""
    if start_ns is None:
        start_ns = time.time_ns()
        if duration_s is not None and 1 < settings.speed < math.inf:
            start_ns -= int(duration_s * (settings.speed - 1) * NANOS_PER_SECOND)
    return SimulatorConfig(
        pairs=tuple(pairs), rate=settings.rate, seed=settings.seed, start_ns=start_ns,
        intraday_amplitude=settings.intraday_amplitude, out_of_order_rate=settings.out_of_order_rate,
        late_rate=settings.late_rate, late_delay_s=settings.late_delay_s, duplicate_rate=settings.duplicate_rate)
