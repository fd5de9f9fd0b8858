"""The shared indicator cache: each distinct indicator call is computed once per candle frame.

Many strategies read the same indicators (EMA 26, RSI 14, ATR 14 ...). One cache is
bound to one candle frame; every strategy evaluated on that frame with the cache gets
the already computed result for a key ``(indicator, parameters, inputs)``. The live
evaluator makes one cache per (pair, timeframe) per candle; a backtest over many
strategies can share one for the whole frame.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import pandas as pd

from tradestream.strategies.candles import validate_candles


class IndicatorCache:
    """Results of indicator calls over one candle frame, keyed by (indicator, params, inputs)."""

    def __init__(self, candles: pd.DataFrame | None = None):
        self._source: pd.DataFrame | None = None
        self._frame: pd.DataFrame | None = None
        self._results: dict[Hashable, object] = {}
        self.hits = 0
        self.misses = 0
        if candles is not None:
            self.bind(candles)

    @classmethod
    def for_validated(cls, frame: pd.DataFrame) -> IndicatorCache:
        """A cache over a frame that ``validate_candles`` already returned (skips re-validation)."""
        cache = cls()
        cache._source = cache._frame = frame
        return cache

    def bind(self, candles: pd.DataFrame, owner: str = "") -> pd.DataFrame:
        """The validated frame for ``candles``; binds the cache on first use.

        Raises ValueError when the cache already belongs to another frame, because its
        results would silently describe different candles.
        """
        if self._source is None:
            self._frame = validate_candles(candles, owner=owner)
            self._source = candles
        elif candles is not self._source and candles is not self._frame:
            assert self._frame is not None
            raise ValueError(
                f"{owner + ': ' if owner else ''}this IndicatorCache belongs to another candle frame "
                f"({len(self._frame)} rows ending {self._frame.index[-1].isoformat()}); "
                "create one IndicatorCache per frame")
        assert self._frame is not None
        return self._frame

    @property
    def frame(self) -> pd.DataFrame | None:
        return self._frame

    def get_or_compute(self, key: Hashable, compute: Callable[[], object]) -> object:
        try:
            result = self._results[key]
        except KeyError:
            self.misses += 1
            result = self._results[key] = compute()
            return result
        self.hits += 1
        return result

    def __contains__(self, key: Hashable) -> bool:
        return key in self._results

    def __len__(self) -> int:
        return len(self._results)

    def keys(self) -> list[Hashable]:
        return list(self._results)
