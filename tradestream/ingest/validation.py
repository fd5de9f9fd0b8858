"""Validation of untrusted trade input: numbers, timestamps, sides, identifiers.

Every boundary (Coinbase frames, replay files) funnels its fields through these
functions. A bad value raises :class:`InvalidInput` carrying a machine-friendly
``reason`` (counted in metrics, written to the dead-letter topic) and a ``detail`` that
names the value and the field. Nothing here guesses: ``"1_000"``, ``" 5"``, ``"NaN"`` and
``"1e999"`` are rejected even though ``float()`` would accept or overflow them.
"""

from __future__ import annotations

import math
import re
import time
from calendar import timegm
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tradestream.ingest.trade import NANOS_PER_SECOND, TakerSide, TradeRecord


class RejectReason(StrEnum):
    """Why a frame or trade was refused. Values are metric labels and DLQ reasons."""

    MALFORMED_JSON = "malformed_json"
    UNPROCESSABLE = "unprocessable"          # input that broke the parser itself (e.g. absurd nesting)
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    EXCHANGE_ERROR = "exchange_error"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    NON_NUMERIC = "non_numeric"
    NON_FINITE = "non_finite"
    NON_POSITIVE_PRICE = "non_positive_price"
    NON_POSITIVE_SIZE = "non_positive_size"
    BAD_TIMESTAMP = "bad_timestamp"
    ABSURD_TIMESTAMP = "absurd_timestamp"
    UNKNOWN_SIDE = "unknown_side"
    UNKNOWN_PRODUCT = "unknown_product"
    BAD_TRADE_ID = "bad_trade_id"
    BAD_SEQUENCE = "bad_sequence"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused piece of input on its way to the dead-letter topic."""

    reason: RejectReason
    detail: str
    payload: bytes
    currency_pair: str | None = None


class InvalidInput(ValueError):
    """Input refused for ``reason``; ``detail`` says which value was wrong and why."""

    def __init__(self, reason: RejectReason, detail: str):
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail

    def rejection(self, payload: bytes, currency_pair: str | None = None) -> Rejection:
        return Rejection(self.reason, self.detail, payload, currency_pair)


# A plain decimal: digits, optional fraction, optional exponent. No sign (prices and
# sizes are positive; a leading '-' is reported as non-positive below), no spaces, no
# underscores, no 'inf'/'nan' words.
_DECIMAL = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE_WORDS = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


def parse_decimal(value: Any, field: str) -> float:
    """A finite float from a JSON string or number; raises :class:`InvalidInput` otherwise."""
    if isinstance(value, bool):  # bool is an int subclass; True is not a price
        raise InvalidInput(RejectReason.WRONG_TYPE, f"{field}={value!r} is a boolean, expected a decimal string")
    if isinstance(value, int | float | Decimal):  # Decimal: Parquet decimal columns
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            raise InvalidInput(RejectReason.NON_FINITE, f"{field}={value!r:.40} is too large") from None
    elif isinstance(value, str):
        if value.strip().lower() in _NON_FINITE_WORDS:
            raise InvalidInput(RejectReason.NON_FINITE, f"{field}={value!r} is not a finite number")
        if not _DECIMAL.fullmatch(value):
            raise InvalidInput(RejectReason.NON_NUMERIC, f"{field}={value!r} is not a decimal number")
        number = float(value)
    elif value is None:
        raise InvalidInput(RejectReason.MISSING_FIELD, f"{field}=None: a value is required")
    else:
        raise InvalidInput(RejectReason.WRONG_TYPE,
                           f"{field}={value!r} is a {type(value).__name__}, expected a decimal string")
    if not math.isfinite(number):
        raise InvalidInput(RejectReason.NON_FINITE, f"{field}={value!r} is not a finite number")
    return number


# RFC 3339 date-time with up to nanosecond fractions, 'Z' or a numeric offset. Also
# accepts a space instead of 'T' (some recorders write that). Seconds 60 (leap) are
# refused: no exchange reports them and datetime cannot represent them.
_RFC3339 = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[Tt ](?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)


def parse_timestamp_ns(value: Any, field: str = "time") -> int:
    """Nanoseconds since the epoch from an RFC 3339 string, keeping all 9 fraction digits.

    Written by hand because ``datetime.fromisoformat`` stops at microseconds and pandas'
    parser accepts words like ``"now"``; exchange timestamps must be exact and strict.
    """
    if value is None:
        raise InvalidInput(RejectReason.MISSING_FIELD, f"{field}=None: a value is required")
    if not isinstance(value, str):
        raise InvalidInput(RejectReason.WRONG_TYPE,
                           f"{field}={value!r} is a {type(value).__name__}, expected an RFC 3339 string")
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise InvalidInput(RejectReason.BAD_TIMESTAMP,
                           f"{field}={value!r} is not an RFC 3339 timestamp like 2024-05-01T12:00:00.123456Z")
    year, month, day = int(match["y"]), int(match["mo"]), int(match["d"])
    hour, minute, second = int(match["h"]), int(match["mi"]), int(match["s"])
    days_in_month = (31, 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28,
                     31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (1 <= month <= 12 and 1 <= day <= days_in_month[month - 1] and hour < 24 and minute < 60
            and second < 60):
        raise InvalidInput(RejectReason.BAD_TIMESTAMP, f"{field}={value!r} is not a real calendar time")
    seconds = timegm((year, month, day, hour, minute, second, 0, 0, 0))
    tz = match["tz"]
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        offset_hours, offset_minutes = int(tz[1:3]), int(tz[4:6])
        if offset_hours > 23 or offset_minutes > 59:
            raise InvalidInput(RejectReason.BAD_TIMESTAMP, f"{field}={value!r} has an impossible UTC offset")
        seconds -= sign * (offset_hours * 3600 + offset_minutes * 60)
    fraction = match["frac"] or ""
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * NANOS_PER_SECOND + nanos


def format_timestamp_ns(ns: int) -> str:
    """RFC 3339 with nanoseconds and 'Z', the inverse of :func:`parse_timestamp_ns`."""
    seconds, nanos = divmod(ns, NANOS_PER_SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


#: Nothing crypto traded before the Bitcoin genesis block (2009-01-03T18:15:05Z).
EARLIEST_PLAUSIBLE_NS = 1_231_006_505 * NANOS_PER_SECOND


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """Which event times are plausible relative to ``now``.

    ``max_future_s`` absorbs clock skew between the exchange and this host;
    ``max_age_s`` (None = unbounded, for replaying history) refuses stale trades.
    """

    max_future_s: float = 300.0
    max_age_s: float | None = None

    def check(self, event_time_ns: int, now_ns: int, field: str = "time") -> None:
        if event_time_ns < EARLIEST_PLAUSIBLE_NS:
            raise InvalidInput(RejectReason.ABSURD_TIMESTAMP,
                               f"{field}={format_timestamp_ns(event_time_ns)} predates the first crypto trade (2009)")
        if event_time_ns > now_ns + int(self.max_future_s * NANOS_PER_SECOND):
            raise InvalidInput(
                RejectReason.ABSURD_TIMESTAMP,
                f"{field}={format_timestamp_ns(event_time_ns)} is more than {self.max_future_s:g}s after "
                f"now ({format_timestamp_ns(now_ns)}); check the clock or raise max_future_skew_s")
        if self.max_age_s is not None and event_time_ns < now_ns - int(self.max_age_s * NANOS_PER_SECOND):
            raise InvalidInput(
                RejectReason.ABSURD_TIMESTAMP,
                f"{field}={format_timestamp_ns(event_time_ns)} is more than {self.max_age_s:g}s before "
                f"now ({format_timestamp_ns(now_ns)})")


_SIDES = {"BUY": TakerSide.BUY, "SELL": TakerSide.SELL}


def parse_side(value: Any, field: str = "side") -> TakerSide:
    """'BUY'/'SELL' in any case; an empty or unknown side is refused rather than guessed."""
    if value is None:
        raise InvalidInput(RejectReason.MISSING_FIELD, f"{field}=None: a value is required")
    if not isinstance(value, str):
        raise InvalidInput(RejectReason.WRONG_TYPE,
                           f"{field}={value!r} is a {type(value).__name__}, expected BUY or SELL")
    side = _SIDES.get(value.upper())
    if side is None:
        raise InvalidInput(RejectReason.UNKNOWN_SIDE, f"{field}={value!r} is neither BUY nor SELL")
    return side


_TRADE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def parse_trade_id(value: Any, field: str = "trade_id") -> str:
    """A non-empty identifier; integers (some recorders store them so) become strings."""
    if value is None:
        raise InvalidInput(RejectReason.MISSING_FIELD, f"{field}=None: a value is required")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(RejectReason.WRONG_TYPE,
                           f"{field}={value!r} is a {type(value).__name__}, expected a string")
    if not _TRADE_ID.fullmatch(value):
        raise InvalidInput(RejectReason.BAD_TRADE_ID,
                           f"{field}={value!r} must be 1-128 letters, digits or ._:- starting with a letter or digit")
    return value


def parse_pair(value: Any, known_pairs: frozenset[str] | None, field: str = "product_id") -> str:
    """A currency pair like 'BTC-USD'; with ``known_pairs`` it must also be one we asked for."""
    if value is None:
        raise InvalidInput(RejectReason.MISSING_FIELD, f"{field}=None: a value is required")
    if not isinstance(value, str):
        raise InvalidInput(RejectReason.WRONG_TYPE,
                           f"{field}={value!r} is a {type(value).__name__}, expected 'BASE-QUOTE'")
    base, sep, quote = value.partition("-")
    if not sep or not base.isalnum() or not quote.isalnum() or value != value.upper():
        raise InvalidInput(RejectReason.UNKNOWN_PRODUCT, f"{field}={value!r} does not look like 'BTC-USD'")
    if known_pairs is not None and value not in known_pairs:
        raise InvalidInput(RejectReason.UNKNOWN_PRODUCT,
                           f"{field}={value!r} was not subscribed (expected one of {sorted(known_pairs)})")
    return value


def validate_trade(
    *,
    exchange: str,
    pair: Any,
    trade_id: Any,
    price: Any,
    size: Any,
    side: Any,
    event_time: Any = None,
    event_time_ns: int | None = None,
    now_ns: int,
    bounds: TimeBounds,
    known_pairs: frozenset[str] | None = None,
) -> TradeRecord:
    """Check every field of one raw trade and build the record; raises :class:`InvalidInput`.

    The event time comes either as ``event_time``, an RFC 3339 string from the wire, or
    as ``event_time_ns`` when a typed source (a Parquet timestamp column) already holds it.
    """
    currency_pair = parse_pair(pair, known_pairs)
    identifier = parse_trade_id(trade_id)
    price_value = parse_decimal(price, "price")
    if price_value <= 0:
        raise InvalidInput(RejectReason.NON_POSITIVE_PRICE, f"price={price!r} must be > 0")
    size_value = parse_decimal(size, "size")
    if size_value <= 0:
        raise InvalidInput(RejectReason.NON_POSITIVE_SIZE, f"size={size!r} must be > 0")
    taker_side = parse_side(side)
    if event_time_ns is None:
        event_time_ns = parse_timestamp_ns(event_time)
    bounds.check(event_time_ns, now_ns)
    return TradeRecord(exchange, currency_pair, identifier, price_value, size_value, taker_side, event_time_ns)
