"""Candle arithmetic: de-duplicate trades, fold them into a candle, fill an empty window,
roll 1-minute candles up into a higher timeframe.

Rules (docs/candles.md states them for users):
- trades are unique on (exchange, currency pair, trade id); the first copy seen wins;
- open / close are the prices of the first / last trade ordered by (event time, trade id),
  where numeric trade ids compare as numbers and come before non-numeric ones, which
  compare as text; the exchange breaks any remaining tie;
- high / low are the max / min price; volume is the sum of sizes; vwap = sum(price*size) / volume
  with each product rounded to a double first; sums are exact, then rounded once;
- an empty window repeats the previous close in open, high, low, close and vwap, with
  volume 0, trade_count 0 and ``filled`` set;
- a higher-timeframe candle applies the same rules to the 1-minute candles with trades in
  its window; a window whose minutes are all filled is itself filled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from tradestream.candles.model import CandleRecord, TradeTick


def exact_partials(values: Iterable[float]) -> tuple[float, ...]:
    """Floats whose exact sum is the exact sum of ``values``, largest first.

    ``math.fsum`` gives the correctly rounded sum s0; appending -s0 leaves the exact
    remainder, whose rounded sum is s1, and so on until the remainder is exactly zero (a
    nonzero remainder never rounds to zero: sums of doubles are multiples of the smallest
    subnormal). Typically two or three terms. ``math.fsum`` returns only the rounded total;
    candles also need sums that can be merged later without error (minute -> day), so the
    terms are kept and ``math.fsum(terms_a + terms_b)`` is the correctly rounded total of both.
    """
    rest = list(values)
    terms: list[float] = []
    for _ in range(64):
        total = math.fsum(rest)
        if not math.isfinite(total):
            raise ValueError(f"cannot sum exactly: the sum is {total}; every price and size must be finite")
        if total == 0.0:
            return tuple(terms)
        terms.append(total)
        rest.append(-total)
    raise AssertionError(f"exact sum did not settle after 64 terms: {terms[:4]}...")


def trade_order_key(trade: TradeTick) -> tuple:
    """Sort key deciding which trade is first (open) and last (close) in a window."""
    trade_id = trade.trade_id
    if trade_id.isascii() and trade_id.isdigit() and len(trade_id) <= 38:  # as [0-9]{1,38}
        return (trade.event_ns, 0, int(trade_id), trade_id, trade.exchange)
    return (trade.event_ns, 1, 0, trade_id, trade.exchange)


def _first_and_last(trades: Sequence[TradeTick]) -> tuple[TradeTick, TradeTick]:
    """min and max by ``trade_order_key``, computing the full key only for event-time ties."""
    first_ns = min(t.event_ns for t in trades)
    last_ns = max(t.event_ns for t in trades)
    first = min((t for t in trades if t.event_ns == first_ns), key=trade_order_key)
    last = max((t for t in trades if t.event_ns == last_ns), key=trade_order_key)
    return first, last


def dedupe_trades(trades: Iterable[TradeTick]) -> list[TradeTick]:
    """Trades unique on (exchange, pair, trade id), keeping the first copy in arrival order."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for trade in trades:
        identity = (trade.exchange, trade.currency_pair, trade.trade_id)
        if identity not in seen:
            seen.add(identity)
            unique.append(trade)
    return unique


def fold_trades(currency_pair: str, timeframe: str, window_start_ns: int, window_end_ns: int,
                trades: Sequence[TradeTick]) -> CandleRecord:
    """The candle of de-duplicated ``trades`` that all fall in the window."""
    if not trades:
        raise ValueError(f"cannot fold an empty window of {currency_pair} {timeframe} at {window_start_ns}; "
                         "use filled_candle for windows without trades")
    first, last = _first_and_last(trades)
    prices = [t.price for t in trades]
    volume_partials = exact_partials(t.size for t in trades)
    pv_partials = exact_partials(t.price * t.size for t in trades)
    volume = math.fsum(volume_partials)
    return CandleRecord(
        currency_pair=currency_pair, timeframe=timeframe,
        window_start_ns=window_start_ns, window_end_ns=window_end_ns,
        open=first.price, high=max(prices), low=min(prices), close=last.price,
        volume=volume, vwap=math.fsum(pv_partials) / volume, trade_count=len(trades), filled=False,
        volume_partials=volume_partials, pv_partials=pv_partials)


def filled_candle(currency_pair: str, timeframe: str, window_start_ns: int, window_end_ns: int,
                  previous_close: float) -> CandleRecord:
    """The candle of a window without trades: everything at the previous close, no volume."""
    return CandleRecord(
        currency_pair=currency_pair, timeframe=timeframe,
        window_start_ns=window_start_ns, window_end_ns=window_end_ns,
        open=previous_close, high=previous_close, low=previous_close, close=previous_close,
        volume=0.0, vwap=previous_close, trade_count=0, filled=True)


def fill_allowed(window_start_ns: int, last_traded_end_ns: int | None, fill_cap_ns: int) -> bool:
    """Whether an empty window gets a filled candle: the pair has traded, and not longer
    than the fill-forward cap before the window starts."""
    return last_traded_end_ns is not None and window_start_ns < last_traded_end_ns + fill_cap_ns


def combine_candles(currency_pair: str, timeframe: str, window_start_ns: int, window_end_ns: int,
                    minutes: Sequence[CandleRecord]) -> CandleRecord:
    """Roll 1-minute candles (ascending by window start) up into one higher-timeframe candle."""
    if not minutes:
        raise ValueError(f"cannot roll up an empty {timeframe} window of {currency_pair} at {window_start_ns}")
    traded = [m for m in minutes if not m.filled]
    if not traded:
        # Every minute repeats the same previous close; so does the higher window.
        return filled_candle(currency_pair, timeframe, window_start_ns, window_end_ns, minutes[0].open)
    volume_partials = exact_partials(p for m in traded for p in m.volume_partials)
    pv_partials = exact_partials(p for m in traded for p in m.pv_partials)
    volume = math.fsum(volume_partials)
    return CandleRecord(
        currency_pair=currency_pair, timeframe=timeframe,
        window_start_ns=window_start_ns, window_end_ns=window_end_ns,
        open=traded[0].open, high=max(m.high for m in traded), low=min(m.low for m in traded),
        close=traded[-1].close, volume=volume, vwap=math.fsum(pv_partials) / volume,
        trade_count=sum(m.trade_count for m in traded), filled=False,
        volume_partials=volume_partials, pv_partials=pv_partials)
