"""Candles of a bounded range of trades in one vectorized pass: the batch path of history imports.

The streaming job folds trade by trade (``fold.py``) and keeps per-pair state machines
(``book.py``) because it must emit as event time passes and revise on late data. A
history import has every trade of a range at once and must go faster than the REST
client delivers them (hundreds of thousands of trades a second); a Python call per trade
(``TradeTick``, ``fold_minute``, ``MinuteBook.add_fold``) cannot. This module applies the
same rules (docs/candles.md) to whole columns with numpy:

- trades are de-duplicated on (exchange, pair, trade id), the first copy wins;
- they are sorted once by (pair, event time, trade id as ``fold.trade_order_key`` orders
  it, exchange), so the open and close of every window are the first and last row of its
  group, and high/low are ``maximum/minimum.reduceat`` over the groups;
- volume and the vwap numerator are exact sums rounded once (``math.fsum`` per window,
  which is what ``fold.exact_partials`` rounds to), so every timeframe's window is summed
  over its own trades: identical to rolling the minutes' exact partials up;
- fill-forward repeats the newest close in empty minutes that start less than the cap
  after the end of the pair's newest traded minute; a higher window without trades is
  filled when at least one of its minutes has a (filled) candle, at the open of its first;
- like the batch candle job (``MinuteBook.fill_until_ns``, ``RollupBook.emit_from_ns``),
  only windows inside ``[from_ns, until_ns)`` are emitted.

``Carry`` makes ranges chain: the close of a pair's newest traded minute and that
minute's end, handed to the next range (a day of history after the previous day), which
then fills its first minutes like a running stream whose books closed the earlier ones.
``tests/candles/test_batch.py`` proves the result equal to the state machines on the same
trades and to the DuckDB SQL reference (``reference.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradestream.candles.model import CandleRecord, TradeTick
from tradestream.candles.windows import higher_timeframes
from tradestream.timeframes import BASE_TIMEFRAME, MINUTE_NS, TIMEFRAME_NS

#: Columns of the candle frame ``fold_batch`` returns (times in ns since the epoch, UTC).
CANDLE_FIELDS: tuple[str, ...] = ("currency_pair", "timeframe", "window_start_ns", "window_end_ns", "open", "high",
                                  "low", "close", "volume", "vwap", "trade_count", "filled")
_MAX_FAST_ID_DIGITS = 18   # digit strings of up to 18 digits fit an int64


@dataclass(frozen=True)
class Carry:
    """A pair's state at the end of a range: the close of its newest traded minute, and that minute's end."""

    close: float
    traded_end_ns: int


@dataclass(frozen=True)
class TradeArrays:
    """Trades as columns. ``trade_id`` holds strings, or non-negative integers for numeric ids
    (Coinbase's): the integer form skips parsing and compares as the numeric text would."""

    exchange: np.ndarray
    currency_pair: np.ndarray
    trade_id: np.ndarray
    event_ns: np.ndarray
    price: np.ndarray
    size: np.ndarray

    def __len__(self) -> int:
        return len(self.event_ns)

    @classmethod
    def of(cls, *, exchange: str | Sequence[str] | np.ndarray, currency_pair: str | Sequence[str] | np.ndarray,
           trade_id: Sequence | np.ndarray, event_ns: Sequence[int] | np.ndarray, price: Sequence[float] | np.ndarray,
           size: Sequence[float] | np.ndarray) -> TradeArrays:
        """Columns from sequences; ``exchange`` and ``currency_pair`` may be one value for every row."""
        times = np.asarray(event_ns, dtype=np.int64)
        n = len(times)

        def text(value) -> np.ndarray:
            return np.full(n, value, dtype=object) if isinstance(value, str) else np.asarray(value, dtype=object)

        ids = np.asarray(trade_id)
        if ids.dtype.kind not in "iu":
            ids = np.asarray(trade_id, dtype=object)
        return cls(text(exchange), text(currency_pair), ids, times, np.asarray(price, dtype=np.float64),
                   np.asarray(size, dtype=np.float64))

    @classmethod
    def from_ticks(cls, ticks: Iterable[TradeTick]) -> TradeArrays:
        ticks = list(ticks)
        return cls.of(exchange=[t.exchange for t in ticks], currency_pair=[t.currency_pair for t in ticks],
                      trade_id=[t.trade_id for t in ticks], event_ns=[t.event_ns for t in ticks],
                      price=[t.price for t in ticks], size=[t.size for t in ticks])

    def take(self, index: np.ndarray) -> TradeArrays:
        return TradeArrays(self.exchange[index], self.currency_pair[index], self.trade_id[index],
                           self.event_ns[index], self.price[index], self.size[index])


@dataclass
class BatchCandles:
    """The candles of a range (one row per pair, timeframe and window, sorted so) and each pair's carry."""

    candles: pd.DataFrame
    carry: dict[str, Carry]

    def records(self) -> list[CandleRecord]:
        return [CandleRecord(currency_pair=r.currency_pair, timeframe=r.timeframe,
                             window_start_ns=int(r.window_start_ns), window_end_ns=int(r.window_end_ns),
                             open=float(r.open), high=float(r.high),
                             low=float(r.low), close=float(r.close), volume=float(r.volume), vwap=float(r.vwap),
                             trade_count=int(r.trade_count), filled=bool(r.filled))
                for r in self.candles.itertuples(index=False)]


def _check_bound(name: str, value: int | None) -> None:
    if value is not None and value % MINUTE_NS:
        raise ValueError(f"{name}={value} must be a whole UTC minute (a multiple of {MINUTE_NS} ns)")


def _id_ranks(trade_id: np.ndarray) -> np.ndarray:
    """Integers ordering the ids as ``fold.trade_order_key`` does (numbers as numbers, before text)."""
    if trade_id.dtype.kind in "iu":
        return trade_id.astype(np.int64)
    ids = trade_id.tolist()
    if all(t.isascii() and t.isdigit() and len(t) <= _MAX_FAST_ID_DIGITS and (t[0] != "0" or t == "0")
           for t in ids):
        return np.array([int(t) for t in ids], dtype=np.int64)

    def key(t: str) -> tuple:
        if t.isascii() and t.isdigit() and len(t) <= 38:
            return (0, int(t), t)
        return (1, 0, t)

    rank = {t: r for r, t in enumerate(sorted(set(ids), key=key))}
    return np.array([rank[t] for t in ids], dtype=np.int64)


def _deduplicate(trades: TradeArrays) -> TradeArrays:
    frame = pd.DataFrame({"e": trades.exchange, "p": trades.currency_pair, "i": trades.trade_id})
    repeated = frame.duplicated(keep="first").to_numpy()
    return trades.take(np.flatnonzero(~repeated)) if repeated.any() else trades


@dataclass
class _Windows:
    """Traded windows of one timeframe: group boundaries over the sorted trades and their values."""

    pair: np.ndarray
    start: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray
    count: np.ndarray


def _traded_windows(pair: np.ndarray, event_ns: np.ndarray, price: np.ndarray, sizes: list[float],
                    products: list[float], duration_ns: int) -> _Windows:
    starts_of = event_ns - event_ns % duration_ns
    n = len(event_ns)
    change = np.empty(n, dtype=bool)
    change[0] = True
    np.not_equal(pair[1:], pair[:-1], out=change[1:])
    change[1:] |= starts_of[1:] != starts_of[:-1]
    first = np.flatnonzero(change)
    last = np.append(first[1:], n) - 1
    bounds = list(zip(first.tolist(), (last + 1).tolist(), strict=True))
    fsum = math.fsum
    volume = np.array([fsum(sizes[a:b]) for a, b in bounds], dtype=np.float64)
    numerator = np.array([fsum(products[a:b]) for a, b in bounds], dtype=np.float64)
    return _Windows(pair[first], starts_of[first], price[first], np.maximum.reduceat(price, first),
                    np.minimum.reduceat(price, first), price[last], volume, numerator / volume,
                    (last + 1 - first).astype(np.int64))


def _frame(pair_names: np.ndarray, timeframe: str, pair: np.ndarray, start: np.ndarray, duration_ns: int,
           open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
           vwap: np.ndarray, count: np.ndarray, filled: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "currency_pair": pair_names[pair] if len(pair) else np.array([], dtype=object),
        "timeframe": timeframe, "window_start_ns": start, "window_end_ns": start + duration_ns, "open": open_,
        "high": high, "low": low, "close": close, "volume": volume, "vwap": vwap, "trade_count": count,
        "filled": filled, "_pair": pair})


def _filled_frame(pair_names: np.ndarray, timeframe: str, pair: np.ndarray, start: np.ndarray, duration_ns: int,
                  close: np.ndarray) -> pd.DataFrame:
    """Windows without trades: every price at the previous close, no volume."""
    n = len(pair)
    return _frame(pair_names, timeframe, pair, start, duration_ns, close, close, close, close, np.zeros(n), close,
                  np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))


def fold_batch(trades: TradeArrays, *, timeframes: Sequence[str], until_ns: int, fill_cap_ns: int,
               from_ns: int | None = None, carry: Mapping[str, Carry] | None = None,
               deduplicate: bool = True) -> BatchCandles:
    """Candles of every timeframe over the trades with ``from_ns <= event time < until_ns``.

    Windows are emitted when they lie inside ``[from_ns, until_ns)`` (both whole minutes;
    ``from_ns`` None: from each pair's first trade). ``carry`` gives pairs their state from
    before ``from_ns``, so their first minutes are filled forward as a stream would fill them.
    ``deduplicate=False`` skips the (exchange, pair, trade id) de-duplication for input
    known to be unique (rows of the ``trades`` table).
    """
    _check_bound("from_ns", from_ns)
    _check_bound("until_ns", until_ns)
    if from_ns is not None and from_ns >= until_ns:
        raise ValueError(f"from_ns={from_ns} must be before until_ns={until_ns}")
    if fill_cap_ns < MINUTE_NS:
        raise ValueError(f"fill_cap_ns={fill_cap_ns} must be at least one minute")
    if BASE_TIMEFRAME not in timeframes:
        raise ValueError(f"timeframes {list(timeframes)} must include the base timeframe {BASE_TIMEFRAME!r}")
    carry = dict(carry or {})

    keep = trades.event_ns < until_ns
    if from_ns is not None:
        keep &= trades.event_ns >= from_ns
    if not keep.all():
        trades = trades.take(np.flatnonzero(keep))
    if deduplicate and len(trades):
        trades = _deduplicate(trades)

    # hash-based codes (np.unique would sort the objects); sorted exchange codes order exchanges as text
    pair, pair_names = pd.factorize(np.concatenate([trades.currency_pair, np.array(sorted(carry), dtype=object)]))
    pair = pair[:len(trades)].astype(np.int64)
    pair_names = np.asarray(pair_names, dtype=object)
    exchange = pd.factorize(trades.exchange, sort=True)[0].astype(np.int64)
    order = np.lexsort((exchange, _id_ranks(trades.trade_id), trades.event_ns, pair))
    pair, event_ns, price = pair[order], trades.event_ns[order], trades.price[order]
    size = trades.size[order]
    sizes, products = size.tolist(), (price * size).tolist()

    frames: list[pd.DataFrame] = []
    minute_pair, minute_start, minute_open = _minutes(frames, pair_names, pair, event_ns, price, sizes, products,
                                                      until_ns=until_ns, fill_cap_ns=fill_cap_ns, from_ns=from_ns,
                                                      carry=carry)
    out_carry = dict(carry)
    traded = frames[0]
    traded = traded[~traded["filled"]]
    if len(traded):
        newest = traded.groupby("currency_pair", sort=False).tail(1)
        for name, close, end in zip(newest["currency_pair"], newest["close"], newest["window_end_ns"], strict=True):
            out_carry[name] = Carry(float(close), int(end))

    for timeframe in higher_timeframes(list(timeframes)):
        duration = TIMEFRAME_NS[timeframe]
        low_bound = -(2**62) if from_ns is None else from_ns
        if len(event_ns):
            w = _traded_windows(pair, event_ns, price, sizes, products, duration)
            inside = (w.start >= low_bound) & (w.start + duration <= until_ns)
            traded_key = set(zip(w.pair[inside].tolist(), w.start[inside].tolist(), strict=True))
            frames.append(_frame(pair_names, timeframe, w.pair[inside], w.start[inside], duration, w.open[inside],
                                 w.high[inside], w.low[inside], w.close[inside], w.volume[inside], w.vwap[inside],
                                 w.count[inside], np.zeros(int(inside.sum()), dtype=bool)))
        else:
            traded_key = set()
        # windows holding a minute candle but no trade: filled at the open of their first minute
        window_of = minute_start - minute_start % duration
        first_minute = np.ones(len(window_of), dtype=bool)
        first_minute[1:] = (minute_pair[1:] != minute_pair[:-1]) | (window_of[1:] != window_of[:-1])
        candidates = np.flatnonzero(first_minute & (window_of >= low_bound) & (window_of + duration <= until_ns))
        empty = np.array([k for k in candidates.tolist()
                          if (int(minute_pair[k]), int(window_of[k])) not in traded_key], dtype=np.int64)
        if len(empty):
            frames.append(_filled_frame(pair_names, timeframe, minute_pair[empty], window_of[empty], duration,
                                        minute_open[empty]))

    candles = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*CANDLE_FIELDS, "_pair"])
    tf_rank = candles["timeframe"].map({tf: TIMEFRAME_NS[tf] for tf in TIMEFRAME_NS})
    candles = candles.assign(_tf=tf_rank).sort_values(["_pair", "_tf", "window_start_ns"], kind="stable")
    candles = candles.drop(columns=["_pair", "_tf"]).reset_index(drop=True)
    candles["trade_count"] = candles["trade_count"].astype(np.int64)
    candles["filled"] = candles["filled"].astype(bool)
    return BatchCandles(candles[list(CANDLE_FIELDS)], out_carry)


def _minutes(frames: list[pd.DataFrame], pair_names: np.ndarray, pair: np.ndarray, event_ns: np.ndarray,
             price: np.ndarray, sizes: list[float], products: list[float], *, until_ns: int, fill_cap_ns: int,
             from_ns: int | None, carry: Mapping[str, Carry]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Appends the 1-minute frame (traded and filled minutes); returns (pair, start, open) of every
    emitted minute sorted by pair and start, for the higher timeframes' filled windows."""
    cap_minutes = -(-fill_cap_ns // MINUTE_NS)   # filled minutes start < traded end + cap
    if len(event_ns):
        w = _traded_windows(pair, event_ns, price, sizes, products, MINUTE_NS)
        inside = w.start + MINUTE_NS <= until_ns
        w = _Windows(*(getattr(w, f)[inside] for f in _Windows.__dataclass_fields__))
    else:
        w = _Windows(*(np.zeros(0, dtype=np.int64) for _ in range(2)), *(np.zeros(0) for _ in range(6)),
                     np.zeros(0, dtype=np.int64))
    n = len(w.start)
    # after each traded minute: until the pair's next traded minute, the cap, or until_ns
    next_start = np.full(n, until_ns, dtype=np.int64)
    same_pair = w.pair[1:] == w.pair[:-1] if n else np.zeros(0, dtype=bool)
    next_start[:-1][same_pair] = w.start[1:][same_pair]
    end = w.start + MINUTE_NS
    fills = np.minimum(np.minimum((next_start - end) // MINUTE_NS, (until_ns - end) // MINUTE_NS), cap_minutes)
    fills = np.maximum(fills, 0)
    fill_pair = np.repeat(w.pair, fills)
    fill_close = np.repeat(w.close, fills)
    fill_start = np.repeat(end, fills) + (np.arange(fills.sum()) - np.repeat(np.cumsum(fills) - fills, fills)) \
        * MINUTE_NS
    # before each carried pair's first traded minute: from from_ns while the carried close is within the cap
    lead_pair, lead_start, lead_close = [], [], []
    if from_ns is not None and carry:
        first_traded = {}
        for p, s in zip(w.pair.tolist(), w.start.tolist(), strict=True):
            first_traded.setdefault(p, s)
        code_of = {name: code for code, name in enumerate(pair_names.tolist())}
        for name, state in carry.items():
            code = code_of[name]
            stop = min(first_traded.get(code, until_ns), until_ns)
            begin = max(from_ns, state.traded_end_ns)
            count = min((stop - begin) // MINUTE_NS, -(-(state.traded_end_ns + fill_cap_ns - begin) // MINUTE_NS))
            if count > 0:
                lead_pair.append(np.full(count, code, dtype=np.int64))
                lead_start.append(begin + np.arange(count, dtype=np.int64) * MINUTE_NS)
                lead_close.append(np.full(count, state.close))
    parts_pair = [fill_pair, *lead_pair]
    parts_start = [fill_start, *lead_start]
    parts_close = [fill_close, *lead_close]
    f_pair = np.concatenate(parts_pair).astype(np.int64)
    f_start = np.concatenate(parts_start).astype(np.int64)
    f_close = np.concatenate(parts_close).astype(np.float64)
    traded = _frame(pair_names, BASE_TIMEFRAME, w.pair, w.start, MINUTE_NS, w.open, w.high, w.low, w.close,
                    w.volume, w.vwap, w.count, np.zeros(n, dtype=bool))
    filled = _filled_frame(pair_names, BASE_TIMEFRAME, f_pair, f_start, MINUTE_NS, f_close)
    minutes = pd.concat([traded, filled], ignore_index=True).sort_values(["_pair", "window_start_ns"], kind="stable")
    frames.insert(0, minutes)
    return (minutes["_pair"].to_numpy(np.int64), minutes["window_start_ns"].to_numpy(np.int64),
            minutes["open"].to_numpy(np.float64))
