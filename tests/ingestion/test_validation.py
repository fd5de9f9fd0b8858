"""Field-level validation of untrusted trade input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.validation import (
    InvalidInput,
    RejectReason,
    TimeBounds,
    format_timestamp_ns,
    parse_decimal,
    parse_pair,
    parse_side,
    parse_timestamp_ns,
    parse_trade_id,
    validate_trade,
)

NOW_NS = 1_715_000_000 * 10**9


@pytest.mark.parametrize(("raw", "expected"), [
    ("64000.01", 64000.01), ("0.00000001", 1e-8), ("1e-8", 1e-8), ("3", 3.0), (".5", 0.5), (42, 42.0),
    (0.25, 0.25), (Decimal("1.5"), 1.5), ("-5", -5.0),
])
def test_decimal_strings_and_numbers_parse_exactly(raw, expected) -> None:
    assert parse_decimal(raw, "price") == expected


@pytest.mark.parametrize(("raw", "reason"), [
    ("abc", RejectReason.NON_NUMERIC), ("1_000", RejectReason.NON_NUMERIC), (" 5", RejectReason.NON_NUMERIC),
    ("", RejectReason.NON_NUMERIC), ("0x10", RejectReason.NON_NUMERIC), ("NaN", RejectReason.NON_FINITE),
    ("inf", RejectReason.NON_FINITE), ("-Infinity", RejectReason.NON_FINITE), ("1e999", RejectReason.NON_FINITE),
    (float("nan"), RejectReason.NON_FINITE), (True, RejectReason.WRONG_TYPE), ([1], RejectReason.WRONG_TYPE),
    (None, RejectReason.MISSING_FIELD),
])
def test_bad_numbers_are_refused_with_a_reason_and_the_value(raw, reason) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_decimal(raw, "price")
    assert caught.value.reason is reason
    assert "price" in caught.value.detail and repr(raw)[:10] in caught.value.detail


def test_timestamps_keep_all_nine_fraction_digits() -> None:
    assert parse_timestamp_ns("2023-02-09T20:19:35.39625135Z") == 1_675_973_975_396_251_350
    assert parse_timestamp_ns("2023-02-09T20:19:35Z") == 1_675_973_975_000_000_000
    assert parse_timestamp_ns("2023-02-09T22:19:35.5+02:00") == 1_675_973_975_500_000_000
    assert parse_timestamp_ns("2023-02-09 20:19:35.000000001Z") == 1_675_973_975_000_000_001


def test_formatting_and_parsing_timestamps_round_trip() -> None:
    for ns in (NOW_NS, NOW_NS + 1, NOW_NS + 999_999_999, 1_231_006_505_000_000_000):
        assert parse_timestamp_ns(format_timestamp_ns(ns)) == ns


@pytest.mark.parametrize(("raw", "reason"), [
    ("2023-02-30T00:00:00Z", RejectReason.BAD_TIMESTAMP), ("2023-02-09T24:00:00Z", RejectReason.BAD_TIMESTAMP),
    ("2023-02-09T20:19:35", RejectReason.BAD_TIMESTAMP), ("yesterday", RejectReason.BAD_TIMESTAMP),
    ("2023-02-09T20:19:35.1234567890Z", RejectReason.BAD_TIMESTAMP), (1_715_000_000, RejectReason.WRONG_TYPE),
    (None, RejectReason.MISSING_FIELD),
])
def test_malformed_timestamps_are_refused(raw, reason) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_timestamp_ns(raw)
    assert caught.value.reason is reason


def test_time_bounds_refuse_pre_bitcoin_future_and_stale_times() -> None:
    bounds = TimeBounds(max_future_s=300, max_age_s=3600)
    bounds.check(NOW_NS, NOW_NS)
    bounds.check(NOW_NS + 299 * 10**9, NOW_NS)
    bounds.check(NOW_NS - 3599 * 10**9, NOW_NS)
    for event_ns in (0, 1_000_000_000 * 10**9, NOW_NS + 301 * 10**9, NOW_NS - 3601 * 10**9):
        with pytest.raises(InvalidInput) as caught:
            bounds.check(event_ns, NOW_NS)
        assert caught.value.reason is RejectReason.ABSURD_TIMESTAMP
    TimeBounds(max_age_s=None).check(1_300_000_000 * 10**9, NOW_NS)  # history replays are not "stale"


def test_sides_pairs_and_ids_are_checked() -> None:
    assert parse_side("buy") is TakerSide.BUY and parse_side("SELL") is TakerSide.SELL
    assert parse_pair("BTC-USD", frozenset({"BTC-USD"})) == "BTC-USD"
    assert parse_trade_id(123) == "123"
    for call, reason in ((lambda: parse_side("HOLD"), RejectReason.UNKNOWN_SIDE),
                         (lambda: parse_side(""), RejectReason.UNKNOWN_SIDE),
                         (lambda: parse_pair("btc-usd", None), RejectReason.UNKNOWN_PRODUCT),
                         (lambda: parse_pair("ETH-USD", frozenset({"BTC-USD"})), RejectReason.UNKNOWN_PRODUCT),
                         (lambda: parse_trade_id(""), RejectReason.BAD_TRADE_ID),
                         (lambda: parse_trade_id("a b"), RejectReason.BAD_TRADE_ID),
                         (lambda: parse_trade_id(1.5), RejectReason.WRONG_TYPE)):
        with pytest.raises(InvalidInput) as caught:
            call()
        assert caught.value.reason is reason


def _trade(**overrides):
    fields = {"exchange": "coinbase", "pair": "BTC-USD", "trade_id": "9", "price": "64000.5", "size": "0.01",
              "side": "BUY", "event_time": format_timestamp_ns(NOW_NS - 10**9)}
    fields.update(overrides)
    return validate_trade(**fields, now_ns=NOW_NS, bounds=TimeBounds())


def test_a_sound_trade_becomes_an_exact_record() -> None:
    assert _trade() == TradeRecord("coinbase", "BTC-USD", "9", 64000.5, 0.01, TakerSide.BUY, NOW_NS - 10**9)


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"price": "0"}, RejectReason.NON_POSITIVE_PRICE), ({"price": "-1"}, RejectReason.NON_POSITIVE_PRICE),
    ({"size": "0.0"}, RejectReason.NON_POSITIVE_SIZE), ({"size": "-0.5"}, RejectReason.NON_POSITIVE_SIZE),
    ({"price": "NaN"}, RejectReason.NON_FINITE), ({"size": "lots"}, RejectReason.NON_NUMERIC),
    ({"event_time": "1970-01-01T00:00:00Z"}, RejectReason.ABSURD_TIMESTAMP),
    ({"event_time": "2999-01-01T00:00:00Z"}, RejectReason.ABSURD_TIMESTAMP),
    ({"side": None}, RejectReason.MISSING_FIELD), ({"pair": 7}, RejectReason.WRONG_TYPE),
])
def test_each_kind_of_broken_trade_is_refused_for_its_reason(overrides, reason) -> None:
    with pytest.raises(InvalidInput) as caught:
        _trade(**overrides)
    assert caught.value.reason is reason
