"""Reading recorded trades for replay: CSV, Parquet, JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streaming.venues.replay.reader import ReplayFileError, load_trades
from tradestream.ingest.trade import TakerSide, TradeRecord
from tradestream.ingest.validation import RejectReason, format_timestamp_ns

T0 = 1_715_000_000 * 10**9
ROWS = [  # deliberately not in time order
    {"exchange": "coinbase", "currency_pair": "BTC-USD", "trade_id": "3", "price": "64000.5", "size": "0.1",
     "taker_side": "SELL", "event_time": format_timestamp_ns(T0 + 3_000_000_123)},
    {"exchange": "coinbase", "currency_pair": "ETH-USD", "trade_id": "1", "price": "3000", "size": "2",
     "taker_side": "BUY", "event_time": format_timestamp_ns(T0 + 1_000_000_000)},
    {"exchange": "coinbase", "currency_pair": "BTC-USD", "trade_id": "2", "price": "64000.25", "size": "0.2",
     "taker_side": "TAKER_SIDE_BUY", "event_time": format_timestamp_ns(T0 + 2_000_000_000)},
]
BAD = {"exchange": "coinbase", "currency_pair": "BTC-USD", "trade_id": "9", "price": "-1", "size": "1",
       "taker_side": "BUY", "event_time": format_timestamp_ns(T0)}
EXPECTED = [
    TradeRecord("coinbase", "ETH-USD", "1", 3000.0, 2.0, TakerSide.BUY, T0 + 1_000_000_000),
    TradeRecord("coinbase", "BTC-USD", "2", 64000.25, 0.2, TakerSide.BUY, T0 + 2_000_000_000),
    TradeRecord("coinbase", "BTC-USD", "3", 64000.5, 0.1, TakerSide.SELL, T0 + 3_000_000_123),
]


def write_csv(path: Path, rows: list[dict]) -> Path:
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(str(row[c]) for c in header) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_rows_come_back_validated_and_in_event_time_order(tmp_path: Path) -> None:
    loaded = load_trades(write_csv(tmp_path / "t.csv", [*ROWS, BAD]))
    assert loaded.trades == EXPECTED
    assert [r.reason for r in loaded.rejections] == [RejectReason.NON_POSITIVE_PRICE]
    assert "row 5" in loaded.rejections[0].detail and b'"-1"' in loaded.rejections[0].payload
    assert loaded.rows == 4


def test_json_lines_with_a_broken_line_replay_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join([json.dumps(ROWS[0]), "{broken", "", json.dumps(ROWS[1]), "[1]",
                               json.dumps(ROWS[2])]) + "\n")
    loaded = load_trades(path)
    assert loaded.trades == EXPECTED
    assert [(r.reason, r.payload) for r in loaded.rejections] == [
        (RejectReason.MALFORMED_JSON, b"{broken"), (RejectReason.NOT_AN_OBJECT, b"[1]")]


def test_parquet_with_a_timestamp_column_keeps_nanoseconds(tmp_path: Path) -> None:
    table = pa.table({
        "product_id": [r["currency_pair"] for r in ROWS],
        "trade_id": [int(r["trade_id"]) for r in ROWS],
        "price": [float(r["price"]) for r in ROWS],
        "size": [float(r["size"]) for r in ROWS],
        "side": ["sell", "buy", "buy"],
        "time": pa.array([T0 + 3_000_000_123, T0 + 1_000_000_000, T0 + 2_000_000_000], pa.timestamp("ns", "UTC")),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    loaded = load_trades(tmp_path / "t.parquet")
    assert loaded.trades == [trade._replace(exchange="replay") for trade in EXPECTED]


def test_pairs_filter_keeps_only_the_requested_pairs(tmp_path: Path) -> None:
    loaded = load_trades(write_csv(tmp_path / "t.csv", ROWS), pairs=frozenset({"ETH-USD"}))
    assert [t.trade_id for t in loaded.trades] == ["1"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("missing.csv", None, "does not exist"),
    ("t.xlsx", "x", "suffix '.xlsx'"),
    ("t.csv", "currency_pair,trade_id,size,side,time\nBTC-USD,1,1,BUY,2024-01-01T00:00:00Z\n", "price"),
    ("t.jsonl", "\n\n", "holds no rows"),
    ("t.parquet", "not parquet", "not readable Parquet"),
])
def test_files_that_cannot_be_replayed_are_refused_with_what_to_fix(tmp_path: Path, name, content, message) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReplayFileError, match=message):
        load_trades(path)
