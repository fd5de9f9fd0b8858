"""The incremental kernels over whole candle frames: many strategies and parameter sets at once.

``rule_signals(frame, [(key, spec, params), ...])`` compiles every entry into one program,
so indicators shared between entries (the EMA 12 of every MACD with fast=12, the RSI 14
under several EMA lengths) are computed once, and runs it over the frame in one kernel
call. It returns the same booleans as ``spec.signals(frame, params)`` for each entry, bar
for bar (tests/strategies/test_incremental.py), which is what the optimizer needs.

``series(frame, spec, params, exprs)`` gives the values of any expressions of a rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from tradestream.candle_columns import STRATEGY_INPUT_COLUMNS
from tradestream.strategies.candles import validate_candles
from tradestream.strategies.expressions import Expr
from tradestream.strategies.incremental import kernels as K
from tradestream.strategies.incremental.program import Program, ProgramBuilder, compile_rules


def candle_values(frame: pd.DataFrame) -> np.ndarray:
    """The kernels' input: bars x STRATEGY_INPUT_COLUMNS, NaN for an optional column the frame lacks."""
    return np.ascontiguousarray(frame.reindex(columns=list(STRATEGY_INPUT_COLUMNS)).to_numpy(dtype=np.float64))


def run_program(program: Program, values: np.ndarray, record: Sequence[int], *, flags: bool = False,
                bar_major: bool = False) -> np.ndarray:
    """Runs a fresh state of ``program`` over ``values``; bars x len(record) of the recorded slots
    (booleans with ``flags``). Operation-major (``kernels.run_columns``) unless ``bar_major``
    (``kernels.run``/``run_flags``, the live path's order): the same numbers either way."""
    state = program.template.copy()
    slots = np.asarray(record, dtype=np.int64)
    if bar_major:
        run = K.run_flags if flags else K.run
        return run(program.code, program.fconst, program.weights, state, values, slots, np.zeros(program.n_slots))
    as_flags, as_values = K.run_columns(program.code, program.fconst, program.weights, state, values, slots,
                                        program.n_slots, flags)
    return (as_flags if flags else as_values).T


def rule_signals(candles: pd.DataFrame, entries: Iterable[tuple[str, object, Mapping[str, object]]], *,
                 threads: int = 1) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(keys, entries, exits): for each (key, spec, params), its entry and exit signals as rows of
    two boolean (entries x bars) matrices, equal to ``spec.signals(candles, params)``. Raises
    NotIncremental if an entry has no incremental form.

    ``threads`` > 1 splits the entries (sorted by parameters, so neighbours share indicators)
    into that many programs run concurrently (the kernel releases the GIL)."""
    frame = validate_candles(candles)
    entries = list(entries)
    for _, spec, params in entries:
        spec.check_frame(frame, params)
    values = candle_values(frame)
    order = sorted(range(len(entries)), key=lambda i: (entries[i][1].name, sorted(entries[i][2].items())))
    threads = max(1, min(threads, len(order)))
    groups = [order[len(order) * g // threads: len(order) * (g + 1) // threads] for g in range(threads)]
    n = len(entries)
    got_entries = np.empty((n, len(frame)), dtype=np.bool_)
    got_exits = np.empty((n, len(frame)), dtype=np.bool_)

    def run(group: list[int]) -> None:
        program = compile_rules([entries[i] for i in group])
        record = [r.entry for r in program.rules] + [r.exit for r in program.rules]
        state = program.template.copy()
        flags, _ = K.run_columns(program.code, program.fconst, program.weights, state, values,
                                 np.asarray(record, dtype=np.int64), program.n_slots, True)
        got_entries[group] = flags[: len(group)]
        got_exits[group] = flags[len(group):]

    if len(groups) == 1:
        run(groups[0])
    else:
        with ThreadPoolExecutor(len(groups)) as pool:
            list(pool.map(run, groups))
    return [key for key, _, _ in entries], got_entries, got_exits


def series(candles: pd.DataFrame, params: Mapping[str, object], exprs: Sequence[Expr]) -> np.ndarray:
    """bars x len(exprs): the values of rule expressions (indicators, arithmetic) over the frame."""
    builder = ProgramBuilder()
    slots = [builder.expr(e, params) for e in exprs]
    return run_program(builder.build(), candle_values(validate_candles(candles)), slots)
