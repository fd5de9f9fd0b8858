"""The replay-mode adapter: a recorded trades file (``reader.py``) published in event-time order at a
chosen speed."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from pathlib import Path

from streaming.ingestion.adapter import ExchangeAdapter, TradeSink, wait_or_stop
from streaming.venues.replay.reader import LoadedTrades, load_trades
from tradestream.ingest.pairs import pair_source_from_settings
from tradestream.ingest.trade import NANOS_PER_SECOND
from tradestream.ingest.validation import TimeBounds
from tradestream.settings import Settings

log = logging.getLogger(__name__)

_MAX_IDLE_WAIT_S = 0.25


class ReplayAdapter(ExchangeAdapter):
    """Publishes a file's trades with their original spacing divided by ``speed``.

    The recording is reproduced as it is, repeats included (``deduplicate = False``):
    replay exists to feed the pipeline exactly what was recorded. Bad rows go to the
    dead-letter topic before the first trade.
    """

    name = "replay"
    deduplicate = False

    def __init__(self, path: Path, speed: float = 1.0, *, bounds: TimeBounds | None = None,
                 pairs: frozenset[str] | None = None, batch_size: int = 2_000):
        if not speed > 0:
            raise ValueError(f"speed={speed} must be > 0 (1 = as recorded, 60 = a minute per second, inf = unpaced)")
        self.path = Path(path)
        self.speed = speed
        self.batch_size = batch_size
        self.loaded: LoadedTrades = load_trades(self.path, bounds=bounds, pairs=pairs)
        if not self.loaded.trades and not self.loaded.rejections:
            raise ValueError(f"replay file {self.path} holds no trades for pairs {sorted(pairs or [])}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ReplayAdapter:
        """The file and speed of the ``[ingestion]`` section; pairs restrict the replay only when set."""
        ingestion = settings.ingestion
        if ingestion.replay_file is None:
            raise ValueError("replay mode needs a file: pass --file or set TRADESTREAM_INGEST_REPLAY_FILE")
        pairs = pair_source_from_settings(ingestion).pairs()
        restrict = frozenset(pairs) if "products" in ingestion.model_fields_set else None
        return cls(ingestion.replay_file, speed=ingestion.speed,
                   bounds=TimeBounds(max_future_s=ingestion.max_future_skew_s), pairs=restrict)

    def describe(self) -> str:
        return (f"replay: {self.path} ({len(self.loaded.trades)} trades, {len(self.loaded.rejections)} bad rows) "
                f"at {'full speed' if math.isinf(self.speed) else f'{self.speed:g}x'}")

    async def run(self, sink: TradeSink, stop: asyncio.Event) -> None:
        for rejection in self.loaded.rejections:
            if stop.is_set():
                return
            await sink.rejected(rejection)
        trades = self.loaded.trades
        if not trades:
            return
        first_ns = trades[0].event_time_ns
        wall_start = time.monotonic()
        position = 0
        while position < len(trades) and not stop.is_set():
            if math.isinf(self.speed):
                end = min(len(trades), position + self.batch_size)
            else:
                limit_ns = first_ns + int((time.monotonic() - wall_start) * self.speed * NANOS_PER_SECOND)
                end = position
                stop_at = min(len(trades), position + self.batch_size)
                while end < stop_at and trades[end].event_time_ns <= limit_ns:
                    end += 1
            if end > position:
                await sink.trades(trades[position:end])
                position = end
                await asyncio.sleep(0)
                continue
            due_in_s = (trades[position].event_time_ns - first_ns) / NANOS_PER_SECOND / self.speed \
                - (time.monotonic() - wall_start)
            await wait_or_stop(stop, min(max(due_in_s, 0.0), _MAX_IDLE_WAIT_S))
        log.info("replay of %s finished: %d of %d trades sent", self.path, position, len(trades))
