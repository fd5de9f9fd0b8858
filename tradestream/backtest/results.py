"""Backtest results as protobuf ``BacktestResult`` and as rows of the DuckDB table ``backtest_results``.

One row per run. The run id is a hash of what determines the result (strategy,
parameters, pair, timeframe, range, trading assumptions), so writing the same run twice
replaces its row instead of adding one: ``write_results`` is idempotent on the run id.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp

from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.engine import BacktestRun
from tradestream.backtest.errors import BacktestInputError
from tradestream.backtest.metrics import METRIC_NAMES, Metrics
from tradestream.params import ParamValue, params_to_proto
from tradestream.timeframes import parse_timeframe
from tradestream.v1 import strategy_pb2

TABLE = "backtest_results"
KINDS: tuple[str, ...] = ("backtest", "optimize", "walk_forward")

# Column name -> DuckDB type, in table order.
COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR PRIMARY KEY",
    "kind": "VARCHAR NOT NULL",
    "strategy": "VARCHAR NOT NULL",
    "params": "JSON NOT NULL",
    "currency_pair": "VARCHAR NOT NULL",
    "timeframe": "VARCHAR NOT NULL",
    "start_time": "TIMESTAMPTZ NOT NULL",  # first candle's window start
    "end_time": "TIMESTAMPTZ NOT NULL",  # last candle's window end (exclusive)
    "bars": "BIGINT NOT NULL",
    "cash": "DOUBLE NOT NULL",
    "fees": "DOUBLE NOT NULL",
    "slippage_bps": "DOUBLE NOT NULL",
    "fill": "VARCHAR NOT NULL",
    "size": "DOUBLE NOT NULL",
    "stop_loss": "DOUBLE",
    "take_profit": "DOUBLE",
    "trailing_stop": "DOUBLE",
    **{name: ("BIGINT NOT NULL" if name == "number_of_trades" else "DOUBLE NOT NULL") for name in METRIC_NAMES},
    "created_at": "TIMESTAMPTZ NOT NULL",
}


def run_id_for(strategy: str, params: Mapping[str, ParamValue], pair: str, timeframe: str, start: pd.Timestamp,
               end: pd.Timestamp, config: BacktestConfig, kind: str = "backtest") -> str:
    """Deterministic id of a run: the same inputs always give the same id."""
    payload = {"kind": kind, "strategy": strategy, "params": dict(sorted(params.items())), "pair": pair,
               "timeframe": timeframe, "start": pd.Timestamp(start).isoformat(), "end": pd.Timestamp(end).isoformat(),
               "config": config.as_dict()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BacktestRecord:
    """A finished run, ready for ``backtest_results`` (``to_row``) or Kafka/gRPC (``to_proto``)."""

    run_id: str
    kind: str
    strategy: str
    params: dict[str, ParamValue]
    pair: str
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    bars: int
    config: BacktestConfig
    metrics: Metrics
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BacktestInputError(f"kind={self.kind!r} must be one of {list(KINDS)}")

    @classmethod
    def from_run(cls, run: BacktestRun, *, pair: str, kind: str = "backtest", strategy: str | None = None,
                 run_id: str | None = None, created_at: datetime | None = None) -> BacktestRecord:
        name = strategy or run.strategy
        if not name:
            raise BacktestInputError("this run has no strategy name; pass strategy='NAME'")
        start = run.start
        end = run.end + parse_timeframe(run.timeframe).timedelta
        return cls(
            run_id=run_id or run_id_for(name, run.params, pair, run.timeframe, start, end, run.config, kind),
            kind=kind, strategy=name, params=dict(run.params), pair=pair, timeframe=run.timeframe, start=start,
            end=end, bars=len(run.equity), config=run.config, metrics=run.metrics,
            created_at=created_at or datetime.now(UTC))

    def to_row(self) -> dict[str, Any]:
        """A dict keyed by ``COLUMNS``, for ``write_results`` or a DataFrame."""
        row: dict[str, Any] = {
            "run_id": self.run_id, "kind": self.kind, "strategy": self.strategy,
            "params": json.dumps(self.params, sort_keys=True), "currency_pair": self.pair,
            "timeframe": self.timeframe, "start_time": pd.Timestamp(self.start).to_pydatetime(),
            "end_time": pd.Timestamp(self.end).to_pydatetime(), "bars": int(self.bars),
            "cash": self.config.cash, "fees": self.config.fees, "slippage_bps": self.config.slippage_bps,
            "fill": self.config.fill, "size": self.config.size, "stop_loss": self.config.stop_loss,
            "take_profit": self.config.take_profit, "trailing_stop": self.config.trailing_stop,
        }
        row.update(self.metrics.as_dict())
        row["created_at"] = self.created_at
        return row

    def to_proto(self) -> strategy_pb2.BacktestResult:
        m = self.metrics
        return strategy_pb2.BacktestResult(
            strategy=params_to_proto(self.strategy, self.params),
            currency_pair=self.pair, timeframe=self.timeframe, start=_timestamp(self.start),
            end=_timestamp(self.end), cumulative_return=m.total_return, annualized_return=m.cagr,
            sharpe_ratio=m.sharpe, sortino_ratio=m.sortino, calmar_ratio=m.calmar, max_drawdown=m.max_drawdown,
            max_drawdown_duration_bars=m.max_drawdown_duration_bars, volatility=m.volatility, win_rate=m.win_rate,
            profit_factor=m.profit_factor, expectancy=m.expectancy, number_of_trades=m.number_of_trades,
            average_trade_duration_bars=m.average_trade_duration_bars, exposure=m.exposure, alpha=m.alpha,
            beta=m.beta, strategy_score=m.score, final_equity=m.final_equity, bars=self.bars)


def result_rows(runs: Iterable[tuple[str, BacktestRun]], *, run_id: str | None = None, kind: str = "backtest",
                created_at: datetime | None = None) -> list[dict[str, Any]]:
    """``backtest_results`` rows for (pair, run) pairs.

    Without ``run_id`` each row's id is derived from its inputs (``run_id_for``). With one
    (e.g. the orchestrator's run id) the rows get ``"<run_id>:<pair>"``, so a retried
    launch replaces its own rows and different pairs never collide.
    """
    stamp = created_at or datetime.now(UTC)
    rows = []
    for pair, run in runs:
        record = BacktestRecord.from_run(run, pair=pair, kind=kind, created_at=stamp,
                                         run_id=None if run_id is None else f"{run_id}:{pair}")
        rows.append(record.to_row())
    return rows


def _timestamp(value: pd.Timestamp) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(pd.Timestamp(value).tz_convert("UTC").to_pydatetime())
    return stamp


def create_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``backtest_results`` if it does not exist."""
    columns = ",\n  ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  {columns}\n)")


def write_results(con: duckdb.DuckDBPyConnection, rows: Iterable[BacktestRecord | Mapping[str, Any]]) -> int:
    """Upsert rows into ``backtest_results`` (created if missing); returns how many were written.

    Rows are ``BacktestRecord``s or dicts shaped like ``BacktestRecord.to_row()``. A row
    whose run id exists replaces the old one, so writing a run twice keeps one row.
    """
    records = [r.to_row() if isinstance(r, BacktestRecord) else dict(r) for r in rows]
    if not records:
        return 0
    for record in records:
        missing = [c for c in COLUMNS if c not in record and c not in ("stop_loss", "take_profit", "trailing_stop")]
        if missing:
            raise BacktestInputError(f"backtest_results row {record.get('run_id')!r} lacks column(s) {missing}")
        for name in METRIC_NAMES:
            value = record[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                raise BacktestInputError(f"backtest_results row {record['run_id']!r} has {name}={value!r}")
    # The same run twice in one batch: the last one wins, as it would across batches.
    frame = pd.DataFrame(records, columns=list(COLUMNS)).drop_duplicates("run_id", keep="last")
    create_table(con)
    con.register("_incoming_backtest_results", frame)
    try:
        columns = ", ".join(COLUMNS)
        con.execute(f"INSERT OR REPLACE INTO {TABLE} ({columns}) SELECT {columns} FROM _incoming_backtest_results")
    finally:
        con.unregister("_incoming_backtest_results")
    return len(frame)
