"""The shared indicator cache: each distinct indicator call is computed once per candle frame.

Many strategies read the same indicators (EMA 26, RSI 14, ATR 14 ...). One cache is
bound to one candle frame; every strategy evaluated on that frame with the cache gets
the already computed result for a key ``(indicator, parameters, inputs)``. A backtest
over many strategies can share one for the whole frame.

The live evaluator makes one cache per (pair, timeframe) per candle over the stream's
window and evaluates each strategy on a tail of it (``tail``): a result computed on a
longer tail is served to a shorter one as its last rows. That is exact for what the live
engine reads, the last bar: the window of every strategy is long enough that its
indicators no longer depend on where their input starts (``indicators.py``), so a value
computed with more history equals the one computed on the strategy's own tail.
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
        self._results: dict[Hashable, tuple[int, object]] = {}  # key -> (rows computed on, result)
        self._root: IndicatorCache = self  # a tail view shares its root's results and counters
        self._tails: dict[int, IndicatorCache] = {}
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

    def tail(self, size: int) -> IndicatorCache:
        """A cache over the last ``size`` candles of this frame that shares this cache's results.

        A result computed on a frame at least ``size`` long is served as its last ``size``
        rows; otherwise the tail computes it and stores it for later requests. Asking for
        the longest tails first therefore computes every indicator once. Only valid where
        the caller reads bars whose indicator values are independent of the start (the
        live evaluator reads the last bar of frames at least ``spec.window()`` long). Hits and
        misses are counted on this cache, not on the view.
        """
        root = self._root
        if root._frame is None:
            raise ValueError("bind the IndicatorCache to a candle frame before taking a tail of it")
        if not 1 <= size <= len(root._frame):
            raise ValueError(f"tail of {size} candles is outside [1, {len(root._frame)}], the cache's frame")
        if size == len(root._frame):
            return root
        view = root._tails.get(size)
        if view is None:
            view = root._tails[size] = IndicatorCache()
            view._source = view._frame = root._frame.iloc[-size:]
            view._root = root
        return view

    def get_or_compute(self, key: Hashable, compute: Callable[[], object]) -> object:
        root = self._root
        size = len(self._frame) if self._frame is not None else 0
        stored = root._results.get(key)
        if stored is not None and stored[0] >= size:
            root.hits += 1
            computed_on, result = stored
            return result if computed_on == size else _last_rows(result, size)
        root.misses += 1
        result = compute()
        root._results[key] = (size, result)
        return result

    def __contains__(self, key: Hashable) -> bool:
        return key in self._root._results

    def __len__(self) -> int:
        return len(self._root._results)

    def keys(self) -> list[Hashable]:
        return list(self._root._results)


def _last_rows(result: object, size: int) -> object:
    """The last ``size`` rows of a result computed on a longer frame (None stays None)."""
    return result.iloc[-size:] if isinstance(result, (pd.Series, pd.DataFrame)) else result
