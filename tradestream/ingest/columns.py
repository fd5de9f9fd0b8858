"""Trades in columns: the form the simulator produces and the fast encoder consumes.

Dry mode publishes hundreds of thousands of trades a second; creating a Python object
per trade and serializing it field by field costs more than the Kafka ``produce`` call
itself. ``TradeColumns`` keeps a batch as numpy arrays, so generation and encoding are
vectorized and only the final ``produce`` loop touches each trade. ``to_records`` gives
the ordinary :class:`TradeRecord` view for everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

import numpy as np

from tradestream.ingest.trade import TakerSide, TradeRecord

_SIDES = (TakerSide.UNSPECIFIED, TakerSide.BUY, TakerSide.SELL)


@dataclass(frozen=True)
class TradeColumns:
    """``n`` trades of one exchange. Trade ids are ``id_prefix + str(number)``.

    Arrays (all length ``n``): ``pair_index`` into ``pairs``, ``number`` (>= 1), ``price``
    and ``size`` (> 0), ``side`` (``TakerSide`` values), ``event_ns`` (epoch nanoseconds).
    """

    exchange: str
    pairs: tuple[str, ...]
    id_prefix: str
    pair_index: np.ndarray
    number: np.ndarray
    price: np.ndarray
    size: np.ndarray
    side: np.ndarray
    event_ns: np.ndarray

    def __len__(self) -> int:
        return len(self.number)

    def keys(self) -> list[str]:
        """The Kafka key (currency pair) of each trade."""
        return list(map(self.pairs.__getitem__, self.pair_index.tolist()))

    def trade_ids(self) -> list[str]:
        return list(map(self.id_prefix.__add__, map(str, self.number.tolist())))

    def to_records(self) -> list[TradeRecord]:
        # tuple.__new__ via map builds the NamedTuples at C speed (no Python-level __new__ per trade).
        rows = zip(repeat(self.exchange), self.keys(), self.trade_ids(), self.price.tolist(), self.size.tolist(),
                   map(_SIDES.__getitem__, self.side.tolist()), self.event_ns.tolist(), strict=False)
        return list(map(tuple.__new__, repeat(TradeRecord), rows))

    def take(self, start: int, stop: int) -> TradeColumns:
        """Rows ``start:stop`` (views, no copy)."""
        return TradeColumns(self.exchange, self.pairs, self.id_prefix, self.pair_index[start:stop],
                            self.number[start:stop], self.price[start:stop], self.size[start:stop],
                            self.side[start:stop], self.event_ns[start:stop])
