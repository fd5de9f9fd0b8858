"""Reading a recorded trades file for replay mode: CSV, Parquet or JSON lines.

Columns (first name found wins; case-sensitive):

========== ==============================================================
pair       ``currency_pair``, ``product_id`` or ``pair``
trade id   ``trade_id``
price      ``price``
size       ``size`` or ``volume``
side       ``taker_side`` or ``side``: BUY / SELL (``TAKER_SIDE_BUY`` too)
time       ``event_time``, ``time`` or ``timestamp``: RFC 3339 text, or a
           Parquet timestamp column
exchange   ``exchange`` (optional; default ``replay``)
========== ==============================================================

Each row is validated like a live trade; a bad row becomes a :class:`Rejection` and
the rest of the file still replays. Rows are returned sorted by event time (stable, so
equal times keep file order). The whole file is loaded: sorting needs it, and a day of
all ten default pairs is a few hundred megabytes at most.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradestream.ingest.trade import TradeRecord
from tradestream.ingest.validation import InvalidInput, Rejection, RejectReason, TimeBounds, validate_trade

EXCHANGE = "replay"
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "jsonl"}
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "pair": ("currency_pair", "product_id", "pair"),
    "trade_id": ("trade_id",),
    "price": ("price",),
    "size": ("size", "volume"),
    "side": ("taker_side", "side"),
    "time": ("event_time", "time", "timestamp"),
}


class ReplayFileError(ValueError):
    """The file cannot be replayed at all (missing, unknown format, missing columns, empty)."""


@dataclass
class LoadedTrades:
    path: Path
    trades: list[TradeRecord]
    rejections: list[Rejection]
    rows: int


def load_trades(path: Path, *, bounds: TimeBounds | None = None, now_ns: int | None = None,
                pairs: frozenset[str] | None = None) -> LoadedTrades:
    """Read and validate ``path``; ``pairs`` (if given) keeps only those pairs."""
    path = Path(path)
    if not path.is_file():
        raise ReplayFileError(f"replay file {path} does not exist; pass --file with a recorded trades file")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ReplayFileError(f"replay file {path} has suffix {path.suffix!r}; use one of {sorted(SUFFIXES)}")
    bounds = bounds or TimeBounds()
    now_ns = time.time_ns() if now_ns is None else now_ns
    rows = {"csv": _csv_rows, "parquet": _parquet_rows, "jsonl": _jsonl_rows}[kind](path)
    trades: list[TradeRecord] = []
    rejections: list[Rejection] = []
    count = 0
    for line, row, payload in rows:
        count += 1
        if isinstance(row, Rejection):
            rejections.append(row)
            continue
        try:
            trade = _validate_row(row, line, bounds, now_ns)
        except InvalidInput as exc:
            pair = next((row.get(name) for name in COLUMN_ALIASES["pair"] if isinstance(row.get(name), str)), None)
            rejections.append(Rejection(exc.reason, f"{path.name} row {line}: {exc.detail}", payload, pair))
            continue
        if pairs is None or trade.currency_pair in pairs:
            trades.append(trade)
    if count == 0:
        raise ReplayFileError(f"replay file {path} holds no rows")
    trades.sort(key=lambda trade: trade.event_time_ns)
    return LoadedTrades(path, trades, rejections, count)


def _pick(row: Mapping[str, Any], field: str) -> Any:
    for name in COLUMN_ALIASES[field]:
        value = row.get(name)
        if value is not None and value != "":
            return value
    raise InvalidInput(RejectReason.MISSING_FIELD, f"no value for {' / '.join(COLUMN_ALIASES[field])}")


def _validate_row(row: Mapping[str, Any], line: int, bounds: TimeBounds, now_ns: int) -> TradeRecord:
    side = _pick(row, "side")
    if isinstance(side, str) and side.upper().startswith("TAKER_SIDE_"):
        side = side[len("TAKER_SIDE_"):]
    event_time = _pick(row, "time")
    exchange = row.get("exchange") or EXCHANGE
    if not isinstance(exchange, str):
        raise InvalidInput(RejectReason.WRONG_TYPE, f"exchange={exchange!r} is not text")
    typed = isinstance(event_time, _EpochNanos)
    return validate_trade(exchange=exchange, pair=_pick(row, "pair"), trade_id=_pick(row, "trade_id"),
                          price=_pick(row, "price"), size=_pick(row, "size"), side=side,
                          event_time=None if typed else event_time, event_time_ns=int(event_time) if typed else None,
                          now_ns=now_ns, bounds=bounds)


class _EpochNanos(int):
    """An event time that came typed (a Parquet timestamp), already in epoch nanoseconds."""


def _compact(row: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(row), separators=(",", ":"), default=str).encode()


def _csv_rows(path: Path) -> Iterator[tuple[int, Any, bytes]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        try:
            _require_columns(path, reader.fieldnames or [])
            yield from _csv_records(path, reader)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ReplayFileError(f"replay file {path} is not readable CSV near line {reader.line_num}: {exc}; "
                                  "fix or remove that line") from None


def _csv_records(path: Path, reader: csv.DictReader) -> Iterator[tuple[int, Any, bytes]]:
    for row in reader:
        if None in row:  # more cells than header columns
            extra = row.pop(None)
            yield reader.line_num, Rejection(
                RejectReason.WRONG_TYPE, f"{path.name} row {reader.line_num} has {len(extra)} cells too many",
                _compact(row | {"_extra": extra})), b""
            continue
        yield reader.line_num, row, _compact(row)


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any, bytes]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ReplayFileError(f"replay file {path} is not readable Parquet: {exc}") from None
    _require_columns(path, table.column_names)
    columns: dict[str, list[Any]] = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            nanos = column.cast(pa.timestamp("ns", tz=column.type.tz)).cast(pa.int64()).to_pylist()
            columns[name] = [None if v is None else _EpochNanos(v) for v in nanos]
        else:
            columns[name] = column.to_pylist()
    for index in range(table.num_rows):
        row = {name: values[index] for name, values in columns.items()}
        yield index + 1, row, _compact(row)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any, bytes]]:
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            raw = line.rstrip(b"\r\n")
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
                yield line_number, Rejection(RejectReason.MALFORMED_JSON,
                                             f"{path.name} line {line_number} is not JSON: {exc}", raw), raw
                continue
            if not isinstance(row, dict):
                yield line_number, Rejection(RejectReason.NOT_AN_OBJECT,
                                             f"{path.name} line {line_number} is a JSON {type(row).__name__}", raw), raw
                continue
            yield line_number, row, raw


def _require_columns(path: Path, columns: list[str]) -> None:
    missing = [field for field, names in COLUMN_ALIASES.items() if not any(name in columns for name in names)]
    if missing:
        wanted = "; ".join(" or ".join(COLUMN_ALIASES[field]) for field in missing)
        raise ReplayFileError(f"replay file {path} lacks a column for {wanted} (it has {columns})")

