"""The pandas-facing backtester over the numba kernels.

``run_backtest`` simulates one pair of entry/exit series, ``run_grid`` many at once on
all cores, ``run_strategy``/``run_strategy_grid`` take a strategy spec and parameters.
Inputs are checked here, loudly; the kernels trust them.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd

from tradestream.backtest import _kernels as k
from tradestream.backtest.candles import validate_candles
from tradestream.backtest.config import BacktestConfig
from tradestream.backtest.errors import BacktestInputError
from tradestream.backtest.metrics import METRIC_NAMES, Metrics
from tradestream.backtest.strategy import StrategyLike, resolve_strategy
from tradestream.params import InsufficientCandlesError, ParameterError, ParamValue
from tradestream.timeframes import parse_timeframe

EXIT_REASONS: dict[int, str] = {
    k.EXIT_SIGNAL: "signal", k.EXIT_STOP_LOSS: "stop_loss", k.EXIT_TAKE_PROFIT: "take_profit",
    k.EXIT_TRAILING_STOP: "trailing_stop", k.EXIT_STILL_OPEN: "open",
}
TRADE_LIST_COLUMNS: tuple[str, ...] = (
    "entry_time", "exit_time", "entry_price", "exit_price", "size", "entry_fees", "exit_fees", "pnl", "return",
    "duration_bars", "exit_reason",
)
# Signal matrices of a grid are built in chunks of about this many cells (bytes per side).
GRID_CHUNK_CELLS = 64_000_000

# How a grid's signals are computed: "kernels" evaluates all parameter sets of a chunk in one
# run of the strategy library's incremental kernels (indicators shared between sets, both
# cores), equal to pandas-ta bar for bar (tests/strategies/test_incremental.py); "pandas-ta"
# calls the strategy's vectorized evaluation set by set (with the shared indicator cache).
SignalEngine = Literal["kernels", "pandas-ta"]
SIGNAL_ENGINES: tuple[str, ...] = ("kernels", "pandas-ta")


@dataclass(frozen=True)
class BacktestRun:
    """One simulated account: its equity curve, trades and metrics."""

    equity: pd.Series
    position: pd.Series
    trades: pd.DataFrame
    metrics: Metrics
    config: BacktestConfig
    timeframe: str
    close: pd.Series
    strategy: str | None = None
    params: dict[str, ParamValue] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def returns(self) -> pd.Series:
        """Per-bar returns of the equity curve; the first bar is measured against the starting cash."""
        previous = self.equity.shift(1).fillna(self.config.cash)
        return (self.equity / previous - 1.0).rename("returns")

    @property
    def start(self) -> pd.Timestamp:
        return self.equity.index[0]

    @property
    def end(self) -> pd.Timestamp:
        return self.equity.index[-1]

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Write the equity curve (with drawdown and buy-and-hold) as a PNG; returns the path."""
        from tradestream.backtest.chart import plot_equity

        return plot_equity(self, path, title=title)


def coerce_signal(values: object, index: pd.DatetimeIndex, name: str) -> np.ndarray:
    """A boolean numpy array aligned with ``index``; raises on NaN, misalignment or non-0/1 values."""
    if isinstance(values, pd.Series):
        if len(values) != len(index):
            raise BacktestInputError(f"{name} has {len(values)} values but there are {len(index)} candles")
        if not values.index.equals(index):
            raise BacktestInputError(
                f"{name} is not aligned with the candles (first index {values.index[0]!r} vs {index[0]}); "
                f"build it from the same frame or use {name}.reindex(candles.index)")
        array = values.to_numpy()
    else:
        array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != len(index):
        raise BacktestInputError(f"{name} has shape {array.shape}; expected ({len(index)},), one value per candle")
    return np.ascontiguousarray(_as_bool(array, name))


def _as_bool(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.bool_:
        return array
    if array.dtype == object:
        missing = pd.isna(array)
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise BacktestInputError(
                f"{name} has {int(missing.sum())} missing value(s), first at position {first}; "
                "signals must be True/False on every bar (fill warm-up bars with False)")
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise BacktestInputError(f"{name} must hold booleans, got values like {array.flat[0]!r}") from None
    if not np.issubdtype(array.dtype, np.number):
        raise BacktestInputError(f"{name} must hold booleans, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating) and np.isnan(array).any():
        missing = np.isnan(array)
        raise BacktestInputError(
            f"{name} has {int(missing.sum())} NaN value(s), first at position {int(np.flatnonzero(missing)[0])}; "
            "signals must be True/False on every bar (fill warm-up bars with False)")
    if not np.isin(array, (0, 1)).all():
        odd = array[~np.isin(array, (0, 1))].flat[0].item()
        raise BacktestInputError(f"{name} must hold booleans or 0/1, got the value {odd!r}")
    return array.astype(np.bool_)


def _ohlc(candles: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.ascontiguousarray(candles[c].to_numpy(dtype=np.float64))  # type: ignore[return-value]
                 for c in ("open", "high", "low", "close"))


def _signal_warnings(entries: np.ndarray, bars: int) -> tuple[str, ...]:
    if not entries.any():
        message = (f"no entry signal in {bars} bars: the strategy never trades on this data "
                   "(too short for its warm-up, or parameters that never trigger)")
        return (message,)
    return ()


def run_backtest(candles: pd.DataFrame, entries: object, exits: object, config: BacktestConfig | None = None, *,
                 timeframe: str | None = None, allow_gaps: bool = False, strategy: str | None = None,
                 params: Mapping[str, ParamValue] | None = None) -> BacktestRun:
    """Simulate one long-only account trading ``entries``/``exits`` (bool per candle) on ``candles``."""
    config = config or BacktestConfig()
    candles, timeframe = validate_candles(candles, timeframe, allow_gaps=allow_gaps)
    index = candles.index
    entry_array = coerce_signal(entries, index, "entries")
    exit_array = coerce_signal(exits, index, "exits")
    open_, high, low, close = _ohlc(candles)
    n = len(index)
    equity = np.empty(n)
    position = np.empty(n)
    trades = np.empty((k.trade_capacity(n, config.has_stops), k.TRADE_FIELDS))
    stats = np.empty(k.STAT_FIELDS)
    rows = k.simulate_long_only(open_, high, low, close, entry_array, exit_array, *config.kernel_args(),
                                equity, position, trades, stats)
    vector = np.empty(k.M_FIELDS)
    k.compute_metrics(equity, k.asset_returns(close), config.cash, parse_timeframe(timeframe).periods_per_year, stats,
                      np.empty(n), vector)
    return BacktestRun(
        equity=pd.Series(equity, index=index, name="equity"),
        position=pd.Series(position, index=index, name="position"),
        trades=_trade_frame(trades[:rows], index),
        metrics=Metrics.from_vector(vector),
        config=config,
        timeframe=timeframe,
        close=candles["close"],
        strategy=strategy,
        params=dict(params or {}),
        warnings=_signal_warnings(entry_array, n),
    )


def _trade_frame(records: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    entry_bar = records[:, k.TRADE_ENTRY_BAR].astype(np.int64)
    exit_bar = records[:, k.TRADE_EXIT_BAR].astype(np.int64)
    is_open = exit_bar < 0
    last = len(index) - 1
    exit_time = pd.Series(index[np.where(is_open, 0, exit_bar)])
    exit_time[is_open] = pd.NaT
    frame = pd.DataFrame({
        "entry_time": index[entry_bar],
        "exit_time": exit_time.to_numpy(),
        "entry_price": records[:, k.TRADE_ENTRY_PRICE],
        "exit_price": records[:, k.TRADE_EXIT_PRICE],
        "size": records[:, k.TRADE_SIZE],
        "entry_fees": records[:, k.TRADE_ENTRY_FEES],
        "exit_fees": records[:, k.TRADE_EXIT_FEES],
        "pnl": records[:, k.TRADE_PNL],
        "return": records[:, k.TRADE_RETURN],
        "duration_bars": np.where(is_open, last, exit_bar) - entry_bar,
        "exit_reason": [EXIT_REASONS[int(r)] for r in records[:, k.TRADE_EXIT_REASON]],
    }, columns=list(TRADE_LIST_COLUMNS))
    frame.insert(0, "entry_bar", entry_bar)
    frame.insert(1, "exit_bar", exit_bar)
    return frame


def _signal_matrix(signals: object, index: pd.DatetimeIndex, name: str) -> tuple[np.ndarray, list[Hashable]]:
    """(combos x bars) boolean matrix from a (bars x combos) DataFrame or array, with combo labels."""
    if isinstance(signals, pd.DataFrame):
        if not signals.index.equals(index):
            raise BacktestInputError(f"{name} rows are not aligned with the candles; build them from the same frame")
        labels: list[Hashable] = list(signals.columns)
        array = signals.to_numpy()
    else:
        array = np.asarray(signals)
        if array.ndim == 2:
            labels = list(range(array.shape[1]))
        else:
            labels = []
    if array.ndim != 2 or array.shape[0] != len(index):
        raise BacktestInputError(
            f"{name} has shape {array.shape}; expected ({len(index)}, combos): one column per parameter combination")
    if array.shape[1] == 0:
        raise BacktestInputError(f"{name} has no columns: give at least one parameter combination")
    return np.ascontiguousarray(_as_bool(array, name).T), labels


def run_grid(candles: pd.DataFrame, entries: object, exits: object, config: BacktestConfig | None = None, *,
             timeframe: str | None = None, allow_gaps: bool = False) -> pd.DataFrame:
    """Metrics of many signal sets in one parallel call: column j of ``entries``/``exits`` is combination j.

    Returns one row per combination (indexed by the signal frames' column labels) with the
    columns of ``Metrics``. Each row equals ``run_backtest`` on that column, bit for bit.
    """
    config = config or BacktestConfig()
    candles, timeframe = validate_candles(candles, timeframe, allow_gaps=allow_gaps)
    entry_matrix, labels = _signal_matrix(entries, candles.index, "entries")
    exit_matrix, exit_labels = _signal_matrix(exits, candles.index, "exits")
    if entry_matrix.shape != exit_matrix.shape:
        raise BacktestInputError(
            f"entries have {entry_matrix.shape[0]} combinations but exits have {exit_matrix.shape[0]}")
    if exit_labels != labels:
        raise BacktestInputError("entries and exits have different column labels; give both the same combinations")
    return _grid_frame(simulate_matrix(candles, entry_matrix, exit_matrix, config, timeframe), labels)


def simulate_matrix(candles: pd.DataFrame, entries: np.ndarray, exits: np.ndarray, config: BacktestConfig,
                    timeframe: str) -> np.ndarray:
    """Kernel call on validated input: (combos x bars) signals -> (combos x metrics) array."""
    open_, high, low, close = _ohlc(candles)
    annual = parse_timeframe(timeframe).periods_per_year
    return k.simulate_grid(open_, high, low, close, entries, exits, *config.kernel_args(), annual,
                           numba.get_num_threads())


def _grid_frame(values: np.ndarray, labels: Sequence[Hashable]) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(labels) if labels and isinstance(labels[0], tuple) else pd.Index(labels)
    frame = pd.DataFrame(values, index=index, columns=list(METRIC_NAMES))
    frame["number_of_trades"] = frame["number_of_trades"].astype(np.int64)
    return frame


class InsufficientHistoryError(BacktestInputError):
    """The candles are shorter than the strategy's look-back for these parameters."""


def strategy_signals(candles: pd.DataFrame, strategy: StrategyLike, params: Mapping[str, ParamValue],
                     cache: object | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Entries and exits of ``strategy`` with validated ``params``, checked against the candles.

    ``cache`` (the strategy library's ``IndicatorCache`` for this candle frame) lets many
    parameter sets share indicator computations. ParameterError passes through unchanged.
    """
    try:
        if cache is None:
            entries, exits = strategy.signals(candles, params)
        else:
            entries, exits = strategy.signals(candles, params, cache)  # type: ignore[call-arg]
    except ParameterError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        kind = InsufficientHistoryError if isinstance(exc, InsufficientCandlesError) else BacktestInputError
        raise kind(f"strategy {strategy.name} with {_fmt_params(params)} cannot run on these {len(candles)} "
                   f"candles: {exc}") from exc
    label = f"{strategy.name} {_fmt_params(params)}"
    return (coerce_signal(entries, candles.index, f"entries of {label}"),
            coerce_signal(exits, candles.index, f"exits of {label}"))


def signal_matrices(candles: pd.DataFrame, strategy: StrategyLike, param_sets: Sequence[Mapping[str, ParamValue]],
                    *, engine: SignalEngine = "kernels", cache: object | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(entries, exits, failures): sets x bars signal matrices of ``strategy`` for validated
    ``param_sets``, and per set None or why it cannot run on these candles (a look-back longer
    than the candles; its rows are False).

    With ``engine="kernels"`` a strategy of the strategy library is evaluated for all sets in
    one incremental-kernel run; anything else (another strategy, an indicator without an
    incremental form) takes the set-by-set path, sharing ``cache``."""
    if engine not in SIGNAL_ENGINES:
        raise BacktestInputError(f"signal engine {engine!r} is not one of {list(SIGNAL_ENGINES)}")
    n = len(candles)
    entries = np.zeros((len(param_sets), n), dtype=np.bool_)
    exits = np.zeros((len(param_sets), n), dtype=np.bool_)
    failures: list[str | None] = [None] * len(param_sets)
    runnable = []
    for row, values in enumerate(param_sets):
        lookback = getattr(strategy, "lookback", None)
        if lookback is not None and n <= lookback(values):
            failures[row] = (f"strategy {strategy.name} with {_fmt_params(values)} cannot run on these {n} "
                             f"candles: its look-back is {lookback(values)} bars")
        else:
            runnable.append(row)
    if engine == "kernels" and runnable and _kernel_signals(candles, strategy, param_sets, runnable, entries, exits):
        return entries, exits, failures
    for row in runnable:
        try:
            entries[row], exits[row] = strategy_signals(candles, strategy, param_sets[row], cache)
        except InsufficientHistoryError as exc:
            failures[row] = str(exc)
    return entries, exits, failures


def _kernel_signals(candles: pd.DataFrame, strategy: StrategyLike, param_sets: Sequence[Mapping[str, ParamValue]],
                    rows: list[int], entries: np.ndarray, exits: np.ndarray) -> bool:
    """Fills ``rows`` of the matrices from the incremental kernels; False when they cannot run the strategy."""
    try:
        from tradestream.strategies import StrategySpec
        from tradestream.strategies.incremental.batch import rule_signals
        from tradestream.strategies.incremental.program import NotIncremental
    except ImportError:
        return False
    if not isinstance(strategy, StrategySpec):
        return False
    try:
        _, got_entries, got_exits = rule_signals(candles, [(str(row), strategy, param_sets[row]) for row in rows],
                                                 threads=numba.get_num_threads())
    except NotIncremental:
        return False
    entries[rows], exits[rows] = got_entries, got_exits
    return True


def indicator_cache(candles: pd.DataFrame, strategy: StrategyLike) -> object | None:
    """A shared indicator cache for ``candles`` when ``strategy`` comes from the strategy library."""
    try:
        from tradestream.strategies import IndicatorCache, StrategySpec
    except ImportError:
        return None
    return IndicatorCache(candles) if isinstance(strategy, StrategySpec) else None


def run_strategy(candles: pd.DataFrame, strategy: str | StrategyLike, params: Mapping[str, Any] | None = None,
                 config: BacktestConfig | None = None, *, timeframe: str | None = None,
                 allow_gaps: bool = False) -> BacktestRun:
    """Backtest a strategy (name or spec) with ``params`` overlaid on its defaults and validated."""
    spec = resolve_strategy(strategy)
    values = spec.space.validate(params)
    candles, timeframe = validate_candles(candles, timeframe, allow_gaps=allow_gaps)
    entries, exits = strategy_signals(candles, spec, values)
    return run_backtest(candles, entries, exits, config, timeframe=timeframe, allow_gaps=True,
                        strategy=spec.name, params=values)


def run_strategy_grid(candles: pd.DataFrame, strategy: str | StrategyLike,
                      param_sets: Sequence[Mapping[str, Any]], config: BacktestConfig | None = None, *,
                      timeframe: str | None = None, allow_gaps: bool = False,
                      signals: SignalEngine = "kernels") -> pd.DataFrame:
    """Metrics of ``strategy`` for every parameter set, simulated in parallel.

    The signals of a chunk of sets are computed together (``signal_matrices``: one kernel run
    for a library strategy, or set by set) and simulated in one parallel kernel call. Returns
    one row per set: the parameters as columns followed by the metrics, in the order given.
    """
    if not param_sets:
        raise BacktestInputError("no parameter sets to run; give at least one")
    config = config or BacktestConfig()
    spec = resolve_strategy(strategy)
    validated = [spec.space.validate(p) for p in param_sets]
    candles, timeframe = validate_candles(candles, timeframe, allow_gaps=allow_gaps)
    n = len(candles)
    chunk = max(1, GRID_CHUNK_CELLS // max(n, 1))
    cache = indicator_cache(candles, spec)
    blocks = []
    for first in range(0, len(validated), chunk):
        batch = validated[first:first + chunk]
        entries, exits, failures = signal_matrices(candles, spec, batch, engine=signals, cache=cache)
        failed = next((f for f in failures if f), None)
        if failed:
            raise InsufficientHistoryError(failed)
        blocks.append(simulate_matrix(candles, entries, exits, config, timeframe))
    metrics = pd.DataFrame(np.vstack(blocks), columns=list(METRIC_NAMES))
    metrics["number_of_trades"] = metrics["number_of_trades"].astype(np.int64)
    params_frame = pd.DataFrame(validated)
    return pd.concat([params_frame, metrics], axis=1)


def _fmt_params(params: Mapping[str, ParamValue]) -> str:
    return ",".join(f"{name}={_fmt_value(value)}" for name, value in params.items())


def _fmt_value(value: ParamValue) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return f"{value:.1f}"
    return str(value)
