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


def run_program(program: Program, values: np.ndarray, record: Sequence[int], *, flags: bool = False) -> np.ndarray:
    """Runs a fresh state of ``program`` over ``values``; bars x len(record) of the recorded slots
    (booleans with ``flags``)."""
    state = program.template.copy()
    vals = np.zeros(program.n_slots)
    slots = np.asarray(record, dtype=np.int64)
    run = K.run_flags if flags else K.run
    return run(program.code, program.fconst, program.weights, state, values, slots, vals)


def rule_signals(candles: pd.DataFrame, entries: Iterable[tuple[str, object, Mapping[str, object]]]
                 ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(keys, entries, exits): boolean bars x entries matrices for each (key, spec, params), equal
    to ``spec.signals(candles, params)``. Raises NotIncremental if an entry has no incremental form."""
    frame = validate_candles(candles)
    entries = list(entries)
    for _, spec, params in entries:
        spec.check_frame(frame, params)
    program = compile_rules(entries)
    flags = run_program(program, candle_values(frame), program.rule_slots, flags=True)
    return [r.key for r in program.rules], flags[:, 0::2], flags[:, 1::2]


def series(candles: pd.DataFrame, params: Mapping[str, object], exprs: Sequence[Expr]) -> np.ndarray:
    """bars x len(exprs): the values of rule expressions (indicators, arithmetic) over the frame."""
    builder = ProgramBuilder()
    slots = [builder.expr(e, params) for e in exprs]
    return run_program(builder.build(), candle_values(validate_candles(candles)), slots)
