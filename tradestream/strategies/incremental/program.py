"""Compiling strategy rules into a program the kernels run bar by bar.

``compile_program(entries)`` walks each entry's entry and exit conditions (the same
declarations ``StrategySpec.signals`` evaluates with pandas-ta) and emits one operation
per distinct computation: an ``ema(close, 26)`` read by five strategies, or by 500
parameter sets of one strategy, is one operation (operations are deduplicated by
opcode, inputs and parameters). Indicators are expanded by the builders in
``builders.py`` into the same steps pandas-ta takes.

The result, a ``Program``, is plain arrays: the operation table, its float parameters,
weights, and the template of a fresh stream's state (NaN where pandas starts from NaN).
Its ``fingerprint`` names the layout, so a saved state is only ever loaded into the
program it was made by.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tradestream.candle_columns import STRATEGY_INPUT_COLUMNS
from tradestream.strategies.expressions import (
    BinOp,
    Both,
    Col,
    Compare,
    Cond,
    Cross,
    Either,
    Expr,
    Extreme,
    Held,
    Ind,
    Lit,
    Params,
    Present,
    Shift,
    Sqrt,
)
from tradestream.strategies.incremental import kernels as K

Outputs = dict[str | None, int]
Builder = Callable[["ProgramBuilder", list[int], dict[str, object]], Outputs]

INPUT_SLOTS: dict[str, int] = {name: i for i, name in enumerate(STRATEGY_INPUT_COLUMNS)}


class NotIncremental(LookupError):
    """A rule uses an indicator (or node) without an incremental form; it stays on the window path."""


@dataclass(frozen=True)
class Rule:
    """Where one entry's entry and exit conditions land in the slot vector."""

    key: str
    entry: int
    exit: int


@dataclass
class Program:
    code: np.ndarray        # int64 [ops, CODE_WIDTH]
    fconst: np.ndarray      # float64 [ops, FCONST_WIDTH]
    weights: np.ndarray     # float64 [...]: window weights some operations dot with
    template: np.ndarray    # float64 [state size]: a fresh stream's state
    n_slots: int
    rules: tuple[Rule, ...]
    labels: tuple[str, ...] = field(repr=False, default=())  # what each operation computes (debugging)
    op_keys: tuple[str, ...] = field(repr=False, default=())  # structural identity of each operation
    op_state: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 2), dtype=np.int64))

    @property
    def state_size(self) -> int:
        return self.template.size

    @property
    def rule_slots(self) -> np.ndarray:
        """Entry and exit slots of every rule, interleaved: [e0 entry, e0 exit, e1 entry, ...]."""
        return np.array([s for r in self.rules for s in (r.entry, r.exit)], dtype=np.int64)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for part in (self.code, self.fconst, self.weights, self.template):
            h.update(np.ascontiguousarray(part).tobytes())
        h.update("|".join(r.key for r in self.rules).encode())
        return h.hexdigest()[:16]

    def fresh_state(self, streams: int = 1) -> np.ndarray:
        return np.tile(self.template, (streams, 1))

    def migrate(self, old: Program, state: np.ndarray) -> tuple[np.ndarray, bool]:
        """A state of this program carrying over what ``state`` (of ``old``) holds: every
        operation both programs have keeps its state (and the bar count), the others start
        fresh. Returns (state, whether every operation was carried over)."""
        if old.fingerprint == self.fingerprint:
            return state.copy(), True
        new = self.template.copy()
        new[:K.HEADER] = state[:K.HEADER]
        where = {key: (int(o), int(n)) for key, (o, n) in zip(old.op_keys, old.op_state, strict=True)}
        complete = True
        for key, (offset, size) in zip(self.op_keys, self.op_state, strict=True):
            found = where.get(key)
            if found is None:
                complete = False
            elif size:
                new[offset:offset + size] = state[found[0]:found[0] + found[1]]
        return new, complete


class ProgramBuilder:
    """Emits operations with their state, deduplicating identical ones."""

    def __init__(self) -> None:
        self._code: list[list[int]] = []
        self._fconst: list[list[float]] = []
        self._labels: list[str] = []
        self._weights: list[float] = []
        self._weight_offsets: dict[tuple[float, ...], int] = {}
        self._template: list[float] = [0.0] * K.HEADER
        self._seen: dict[tuple, int] = {}
        self._slot_keys: dict[int, object] = {i: ("col", name) for i, name in enumerate(STRATEGY_INPUT_COLUMNS)}
        self._op_keys: list[str] = []
        self._op_state: list[tuple[int, int]] = []
        self._next_slot = len(STRATEGY_INPUT_COLUMNS)
        self._expr_cache: dict[tuple, int] = {}

    # ------------------------------------------------------------------ emitting
    def emit(self, opcode: int, inputs: Sequence[int] = (), ints: Sequence[int] = (), floats: Sequence[float] = (),
             state: Sequence[float] = (), outputs: int = 1, label: str = "", identity: tuple = ()) -> int:
        """The (first) output slot of the operation; an identical operation is emitted once.

        Operations are identified structurally (opcode, what their inputs compute, their
        parameters; ``identity`` adds what ``ints`` only point to, such as weights), so the
        same identity names the same computation in any program (state migration): with an
        ``identity``, only the first of ``ints`` is a parameter, the others are references."""
        keyed_ints = ints[:1] if identity else ints
        key = (opcode, tuple(self._slot_keys[i] for i in inputs), tuple(int(i) for i in keyed_ints),
               tuple(float(f) for f in floats), identity)
        found = self._seen.get(key)
        if found is not None:
            return found
        if len(inputs) > 4 or len(ints) > 3 or len(floats) > K.FCONST_WIDTH:
            raise ValueError(f"operation {opcode} has too many operands: {key}")
        out = self._next_slot
        self._next_slot += outputs
        offset = len(self._template) if state else 0
        self._template.extend(float(x) for x in state)
        row = [opcode, out, *list(inputs) + [0] * (4 - len(inputs)), offset, *list(ints) + [0] * (3 - len(ints))]
        self._code.append(row)
        self._fconst.append(list(floats) + [0.0] * (K.FCONST_WIDTH - len(floats)))
        self._labels.append(label or str(opcode))
        self._seen[key] = out
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
        self._op_keys.append(digest)
        self._op_state.append((offset, len(state)))
        for j in range(outputs):
            self._slot_keys[out + j] = (digest, j)
        return out

    def weights(self, values: Sequence[float]) -> int:
        key = tuple(float(v) for v in values)
        offset = self._weight_offsets.get(key)
        if offset is None:
            offset = self._weight_offsets[key] = len(self._weights)
            self._weights.extend(key)
        return offset

    def build(self, rules: Iterable[Rule] = ()) -> Program:
        code = np.array(self._code, dtype=np.int64).reshape(len(self._code), K.CODE_WIDTH)
        fconst = np.array(self._fconst, dtype=np.float64).reshape(len(self._fconst), K.FCONST_WIDTH)
        return Program(code=code, fconst=fconst, weights=np.array(self._weights or [0.0], dtype=np.float64),
                       template=np.array(self._template, dtype=np.float64), n_slots=self._next_slot,
                       rules=tuple(rules), labels=tuple(self._labels), op_keys=tuple(self._op_keys),
                       op_state=np.array(self._op_state, dtype=np.int64).reshape(len(self._op_state), 2))

    # ------------------------------------------------------------------ primitives (pandas / pandas-ta steps)
    def const(self, value: float) -> int:
        return self.emit(K.CONST, floats=(value,), label=f"{value:g}")

    def binary(self, opcode: int, a: int, b: int) -> int:
        return self.emit(opcode, (a, b))

    def add(self, a: int, b: int) -> int:
        return self.emit(K.ADD, (a, b))

    def sub(self, a: int, b: int) -> int:
        return self.emit(K.SUB, (a, b))

    def mul(self, a: int, b: int) -> int:
        return self.emit(K.MUL, (a, b))

    def div(self, a: int, b: int) -> int:
        return self.emit(K.DIV, (a, b))

    def unary(self, opcode: int, a: int) -> int:
        return self.emit(opcode, (a,))

    def scalar(self, opcode: int, a: int, c: float) -> int:
        return self.emit(opcode, (a,), floats=(c,))

    def nzr(self, a: int, b: int) -> int:
        """pandas-ta's non_zero_range(a, b)."""
        return self.emit(K.NZR, (a, b), state=(0.0,))

    def shift(self, a: int, bars: int) -> int:
        if bars == 0:
            return a
        if bars < 1:
            raise NotIncremental(f"shift by {bars} bars (only past bars are known live)")
        return self.emit(K.SHIFT, (a,), (bars,), state=(0.0,) + (np.nan,) * bars)

    def sma(self, a: int, length: int) -> int:
        """pandas-ta's sma (numba convolve with 1/n weights)."""
        return self.window_dot(K.DOTSEQ, a, [1.0 / length] * length)

    def ema(self, a: int, length: int, first_valid: bool = False) -> int:
        """pandas-ta's ema: SMA-seeded (presma), then pandas' ewm(span=length, adjust=False)."""
        seeded = self.emit(K.PRESMA, (a,), (length, int(first_valid)), state=(0.0, 0.0) + (np.nan,) * length)
        return self.ewm(seeded, span=length)

    def ewm(self, a: int, *, span: float | None = None, alpha: float | None = None) -> int:
        from pandas.core.window.ewm import get_center_of_mass

        com = get_center_of_mass(None, span, None, alpha)
        new_wt = 1.0 / (1.0 + com)
        return self.emit(K.EWM, (a,), floats=(new_wt, 1.0 - new_wt), state=(0.0, np.nan, 1.0, 0.0),
                         label=f"ewm(com={com})")

    def rma(self, a: int, length: int) -> int:
        """pandas-ta's rma: ewm(alpha=1/length, adjust=False)."""
        return self.ewm(a, alpha=(1.0 / length) if length > 0 else 0.5)

    def rolling(self, opcode: int, a: int, length: int, min_periods: int | None = None, ddof: int = 1) -> int:
        minp = length if min_periods is None else min_periods
        if opcode in (K.ROLLSUM, K.ROLLMEAN):
            return self.emit(opcode, (a,), (length, minp), state=(0.0,) * 7 + (0.0,) + (np.nan,) * length)
        if opcode == K.ROLLVAR:
            return self.emit(opcode, (a,), (length, minp, ddof), state=(0.0,) * 7 + (0.0,) + (np.nan,) * length)
        if opcode in (K.ROLLMAX, K.ROLLMIN):
            return self.emit(opcode, (a,), (length, minp),
                             state=(0.0, 0.0, 0.0) + (0.0,) + (np.nan,) * length + (np.nan,) * length + (0.0,) * length)
        if opcode in (K.ARGMAXR, K.ARGMINR):
            return self.emit(opcode, (a,), (length, minp), state=(0.0,) + (np.nan,) * length)
        raise ValueError(f"not a rolling opcode: {opcode}")

    def window_dot(self, opcode: int, a: int, weights: Sequence[float]) -> int:
        n = len(weights)
        return self.emit(opcode, (a,), (n, self.weights(weights)), state=(0.0,) + (np.nan,) * n,
                         identity=tuple(float(w) for w in weights))

    # ------------------------------------------------------------------ rules
    def expr(self, expr: Expr, params: Params) -> int:
        key = expr.key(params)
        found = self._expr_cache.get(key)
        if found is None:
            found = self._expr_cache[key] = self._expr(expr, params)
        return found

    def _expr(self, expr: Expr, params: Params) -> int:
        if isinstance(expr, Col):
            return INPUT_SLOTS[expr.name]
        if isinstance(expr, Lit):
            return self.const(float(expr.value.resolve(params)))
        if isinstance(expr, BinOp):
            left, right = self.expr(expr.left, params), self.expr(expr.right, params)
            return self.binary(_BINOPS[expr.op], left, right)
        if isinstance(expr, Sqrt):
            return self.unary(K.SQRTX, self.expr(expr.expr, params))
        if isinstance(expr, Shift):
            return self.shift(self.expr(expr.expr, params), expr.bars)
        if isinstance(expr, Extreme):
            n = int(expr.length.resolve(params))
            return self.rolling(K.ROLLMAX if expr.highest else K.ROLLMIN, self.expr(expr.expr, params), n)
        if isinstance(expr, Ind):
            from tradestream.strategies.incremental.builders import builder_for

            build = builder_for(expr.name)
            inputs = [self.expr(e, params) for e in expr.inputs]
            kwargs = {**expr.resolved(params), **expr.definition.fixed}
            outputs = build(self, inputs, kwargs)
            if expr.out not in outputs:
                raise NotIncremental(f"indicator {expr.name}: no incremental output {expr.out!r} "
                                     f"(has {sorted(map(str, outputs))})")
            return outputs[expr.out]
        raise NotIncremental(f"expression {type(expr).__name__} ({expr}) has no incremental form")

    def cond(self, cond: Cond, params: Params) -> int:
        if isinstance(cond, Compare):
            return self.binary(_COMPARE[cond.op], self.expr(cond.left, params), self.expr(cond.right, params))
        if isinstance(cond, Cross):
            a, b = self.expr(cond.left, params), self.expr(cond.right, params)
            return self.emit(K.CROSSUP if cond.upward else K.CROSSDOWN, (a, b), state=(np.nan, np.nan))
        if isinstance(cond, Both):
            return self.binary(K.AND, self.cond(cond.left, params), self.cond(cond.right, params))
        if isinstance(cond, Either):
            return self.binary(K.OR, self.cond(cond.left, params), self.cond(cond.right, params))
        if isinstance(cond, Held):
            inner = self.cond(cond.cond, params)
            n = int(cond.bars.resolve(params))
            if n <= 1:
                return inner
            return self.emit(K.WITHIN if cond.within else K.HELD, (inner,), (n,), state=(0.0, 0.0) + (0.0,) * n)
        if isinstance(cond, Present):
            return self.unary(K.ISVAL, self.expr(cond.expr, params))
        raise NotIncremental(f"condition {type(cond).__name__} ({cond}) has no incremental form")

    def rule(self, cond: Cond, params: Params, lookback: int) -> int:
        return self.emit(K.LOOKBACK, (self.cond(cond, params),), (lookback,))


_BINOPS = {"+": K.ADD, "-": K.SUB, "*": K.MUL, "/": K.DIVNAN, "max": K.MAXNAN, "min": K.MINNAN}
_COMPARE = {">": K.GT, ">=": K.GE, "<": K.LT, "<=": K.LE}


def compile_rules(entries: Iterable[tuple[str, object, Mapping[str, object]]]) -> Program:
    """A program evaluating ``(key, spec, params)`` entries: their indicators shared, one rule pair each.

    Raises NotIncremental when an entry uses something without an incremental form. Programs
    are immutable; the last ones compiled are cached (a worker compiles its set once)."""
    return _compile(tuple((key, spec, tuple(sorted(dict(params).items()))) for key, spec, params in entries))


@functools.lru_cache(maxsize=256)
def _compile(entries: tuple[tuple[str, object, tuple], ...]) -> Program:
    # specs hash by identity (frozen, eq=False): registry singletons
    builder = ProgramBuilder()
    rules = []
    for key, spec, items in entries:
        params = dict(items)
        lookback = spec.lookback(params)
        rules.append(Rule(key, builder.rule(spec.entry, params, lookback), builder.rule(spec.exit, params, lookback)))
    return builder.build(rules)


def is_incremental(spec: object, params: Mapping[str, object]) -> bool:
    """Whether every node of the strategy's rules has an incremental form."""
    try:
        compile_rules([("probe", spec, params)])
    except NotIncremental:
        return False
    return True
