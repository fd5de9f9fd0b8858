"""The declarative language strategies are written in.

A strategy is a pair of conditions (entry, exit) over series expressions. Expressions
are candle columns (``CLOSE``), indicator calls (``Ind("ema", length=P("fast"))``),
shifts and arithmetic; conditions are comparisons, crossings and their combinations.
Nothing here computes on import: a spec is data that the evaluator, the CLI, the docs
and the optimizer all read.

Every node knows three things about itself besides its value:

* ``warmup(params)``: bars before its first valid value (the strategy's look-back);
* ``memory(params)``: extra bars after which a value computed on a truncated window
  equals the one computed on the full history (recursive smoothing such as EMA
  forgets its seed geometrically; see ``indicators.convergence_bars``);
* ``key(params)``: a hashable identity, so the shared cache computes each distinct
  indicator call once per candle frame.

NaN handling: a comparison with a NaN side is False, so warm-up bars never signal.
There is deliberately no negation operator: "not (a > b)" would turn NaN into True.
Write the opposite comparison instead.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from tradestream.strategies.cache import IndicatorCache
    from tradestream.strategies.indicators import IndicatorDef

Params = Mapping[str, float]


class StrategyDataError(ValueError):
    """The candles lack something a strategy needs (e.g. an optional column)."""


@dataclass
class EvalContext:
    """What an expression is evaluated against: one validated frame, one parameter set."""

    frame: pd.DataFrame
    params: Params
    cache: IndicatorCache
    owner: str = ""


# --------------------------------------------------------------------------- scalars

class Scalar:
    """A number that may depend on parameters: ``P("level")``, ``-P("level")``, ``2.5``."""

    def resolve(self, params: Params) -> float:
        raise NotImplementedError

    def param_names(self) -> set[str]:
        return set()

    def __neg__(self) -> Scalar:
        return _ScalarOp("neg", self, None)

    def __add__(self, other: object) -> Scalar:
        return _ScalarOp("+", self, _scalar(other))

    def __radd__(self, other: object) -> Scalar:
        return _ScalarOp("+", _scalar(other), self)

    def __sub__(self, other: object) -> Scalar:
        return _ScalarOp("-", self, _scalar(other))

    def __rsub__(self, other: object) -> Scalar:
        return _ScalarOp("-", _scalar(other), self)

    def __mul__(self, other: object) -> Scalar:
        return _ScalarOp("*", self, _scalar(other))

    def __rmul__(self, other: object) -> Scalar:
        return _ScalarOp("*", _scalar(other), self)

    def __truediv__(self, other: object) -> Scalar:
        return _ScalarOp("/", self, _scalar(other))


@dataclass(frozen=True, eq=False)
class P(Scalar):
    """A reference to a strategy parameter."""

    name: str

    def resolve(self, params: Params) -> float:
        return params[self.name]

    def param_names(self) -> set[str]:
        return {self.name}

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class Const(Scalar):
    value: float

    def resolve(self, params: Params) -> float:
        return self.value

    def __str__(self) -> str:
        return f"{self.value:g}"


_SCALAR_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


@dataclass(frozen=True, eq=False)
class _ScalarOp(Scalar):
    op: str
    left: Scalar
    right: Scalar | None

    def resolve(self, params: Params) -> float:
        if self.op == "neg":
            return -self.left.resolve(params)
        assert self.right is not None
        return _SCALAR_OPS[self.op](self.left.resolve(params), self.right.resolve(params))

    def param_names(self) -> set[str]:
        return self.left.param_names() | (self.right.param_names() if self.right else set())

    def __str__(self) -> str:
        if self.op == "neg":
            return f"-{self.left}"
        return f"({self.left} {self.op} {self.right})"


def _scalar(value: object) -> Scalar:
    if isinstance(value, Scalar):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Const(float(value))
    raise TypeError(f"expected a number or parameter reference, got {value!r}")


# --------------------------------------------------------------------------- series

class Expr:
    """A float series aligned with the candle frame."""

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        raise NotImplementedError

    def warmup(self, params: Params) -> int:
        raise NotImplementedError

    def memory(self, params: Params) -> int:
        return max((c.memory(params) for c in self.children()), default=0)

    def key(self, params: Params) -> tuple:
        raise NotImplementedError

    def children(self) -> tuple[Expr, ...]:
        return ()

    def scalars(self) -> tuple[Scalar, ...]:
        return ()

    def walk(self) -> Iterator[Expr]:
        yield self
        for child in self.children():
            yield from child.walk()

    # arithmetic builds new expressions
    def __add__(self, other: object) -> Expr:
        return BinOp("+", self, _operand(other))

    def __radd__(self, other: object) -> Expr:
        return BinOp("+", _operand(other), self)

    def __sub__(self, other: object) -> Expr:
        return BinOp("-", self, _operand(other))

    def __rsub__(self, other: object) -> Expr:
        return BinOp("-", _operand(other), self)

    def __mul__(self, other: object) -> Expr:
        return BinOp("*", self, _operand(other))

    def __rmul__(self, other: object) -> Expr:
        return BinOp("*", _operand(other), self)

    def __truediv__(self, other: object) -> Expr:
        return BinOp("/", self, _operand(other))

    def __neg__(self) -> Expr:
        return BinOp("*", Lit(Const(-1.0)), self)

    # comparisons build conditions
    def __gt__(self, other: object) -> Cond:  # type: ignore[override]
        return Compare(self, ">", _operand(other))

    def __ge__(self, other: object) -> Cond:  # type: ignore[override]
        return Compare(self, ">=", _operand(other))

    def __lt__(self, other: object) -> Cond:  # type: ignore[override]
        return Compare(self, "<", _operand(other))

    def __le__(self, other: object) -> Cond:  # type: ignore[override]
        return Compare(self, "<=", _operand(other))

    __hash__ = object.__hash__

    def prev(self, bars: int = 1) -> Expr:
        """The value ``bars`` candles ago."""
        return Shift(self, bars)


def _operand(value: object) -> Expr:
    if isinstance(value, Expr):
        return value
    return Lit(_scalar(value))


@dataclass(frozen=True, eq=False)
class Lit(Expr):
    """A constant (possibly parameter-dependent) broadcast over the frame."""

    value: Scalar

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        return pd.Series(float(self.value.resolve(ctx.params)), index=ctx.frame.index)

    def warmup(self, params: Params) -> int:
        return 0

    def key(self, params: Params) -> tuple:
        return ("lit", float(self.value.resolve(params)))

    def scalars(self) -> tuple[Scalar, ...]:
        return (self.value,)

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True, eq=False)
class Col(Expr):
    """A candle column."""

    name: str

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        try:
            return ctx.frame[self.name]
        except KeyError:
            where = f"{ctx.owner} " if ctx.owner else ""
            raise StrategyDataError(f"{where}needs candle column {self.name!r}, which this frame lacks "
                                    f"(it has {list(ctx.frame.columns)})") from None

    def warmup(self, params: Params) -> int:
        return 0

    def key(self, params: Params) -> tuple:
        return ("col", self.name)

    def __str__(self) -> str:
        return self.name


OPEN, HIGH, LOW, CLOSE, VOLUME = Col("open"), Col("high"), Col("low"), Col("close"), Col("volume")
TRADE_COUNT = Col("trade_count")

_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "max": np.maximum, "min": np.minimum}  # np.maximum keeps NaN, so warm-up bars stay "no value"


@dataclass(frozen=True, eq=False)
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        left, right = self.left.evaluate(ctx), self.right.evaluate(ctx)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _ARITH[self.op](left, right)
        if self.op == "/":  # x/0 is "no value", like a warm-up bar, not +-inf
            out = out.replace([np.inf, -np.inf], np.nan)
        return out

    def warmup(self, params: Params) -> int:
        return max(self.left.warmup(params), self.right.warmup(params))

    def key(self, params: Params) -> tuple:
        return ("op", self.op, self.left.key(params), self.right.key(params))

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        if self.op in ("max", "min"):
            return f"{self.op}({self.left}, {self.right})"
        return f"({self.left} {self.op} {self.right})"


def maximum(left: Expr, right: Expr) -> Expr:
    return BinOp("max", left, right)


def minimum(left: Expr, right: Expr) -> Expr:
    return BinOp("min", left, right)


@dataclass(frozen=True, eq=False)
class Sqrt(Expr):
    """Square root; negative inputs (rounding below zero) give no value rather than an error."""

    expr: Expr

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        values = self.expr.evaluate(ctx)
        return np.sqrt(values.where(values >= 0))

    def warmup(self, params: Params) -> int:
        return self.expr.warmup(params)

    def key(self, params: Params) -> tuple:
        return ("sqrt", self.expr.key(params))

    def children(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def __str__(self) -> str:
        return f"sqrt({self.expr})"


@dataclass(frozen=True, eq=False)
class Shift(Expr):
    expr: Expr
    bars: int

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        return self.expr.evaluate(ctx).shift(self.bars)

    def warmup(self, params: Params) -> int:
        return self.expr.warmup(params) + self.bars

    def key(self, params: Params) -> tuple:
        return ("shift", self.bars, self.expr.key(params))

    def children(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def __str__(self) -> str:
        return f"{self.expr}[{self.bars} bar{'s' if self.bars != 1 else ''} ago]"


@dataclass(frozen=True, eq=False)
class Extreme(Expr):
    """Highest or lowest value of an expression over the last ``length`` bars (incl. this one)."""

    expr: Expr
    length: Scalar
    highest: bool

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        n = int(self.length.resolve(ctx.params))
        rolling = self.expr.evaluate(ctx).rolling(n, min_periods=n)
        return rolling.max() if self.highest else rolling.min()

    def warmup(self, params: Params) -> int:
        return self.expr.warmup(params) + int(self.length.resolve(params)) - 1

    def key(self, params: Params) -> tuple:
        return ("max" if self.highest else "min", int(self.length.resolve(params)), self.expr.key(params))

    def children(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def scalars(self) -> tuple[Scalar, ...]:
        return (self.length,)

    def __str__(self) -> str:
        return f"{'highest' if self.highest else 'lowest'}({self.expr}, {self.length})"


def highest(expr: Expr, length: object) -> Expr:
    return Extreme(expr, _scalar(length), True)


def lowest(expr: Expr, length: object) -> Expr:
    return Extreme(expr, _scalar(length), False)


@dataclass(frozen=True, eq=False)
class Ind(Expr):
    """A call of a registered indicator (a pandas-ta function or a documented custom one).

    Positional ``inputs`` replace the indicator's default candle columns in order, so
    ``Ind("ema", OBV, length=P("n"))`` is an EMA of on-balance volume. ``out`` picks one
    output column of a multi-column indicator: ``Ind("macd", ...)["MACDs"]``.
    """

    name: str
    inputs: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Scalar], ...] = ()
    out: str | None = None
    definition: IndicatorDef = field(init=False, repr=False)

    def __init__(self, name: str, *inputs: Expr, out: str | None = None, **kwargs: object):
        from tradestream.strategies.indicators import get_indicator

        definition = get_indicator(name)
        if len(inputs) > len(definition.inputs):
            raise TypeError(f"indicator {name} takes {len(definition.inputs)} input series "
                            f"{definition.inputs}, got {len(inputs)}")
        full_inputs = tuple(inputs) + tuple(Col(c) for c in definition.inputs[len(inputs):])
        definition.check_kwargs(kwargs)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "inputs", full_inputs)
        object.__setattr__(self, "kwargs", tuple((k, _scalar(v)) for k, v in kwargs.items()))
        object.__setattr__(self, "out", out)
        object.__setattr__(self, "definition", definition)

    def __getitem__(self, out: str) -> Ind:
        return Ind(self.name, *self.inputs, out=out, **dict(self.kwargs))

    def resolved(self, params: Params) -> dict[str, float]:
        return {k: self.definition.coerce(k, v.resolve(params)) for k, v in self.kwargs}

    def call_key(self, params: Params) -> tuple:
        """Identity of the indicator call, independent of which output is read."""
        return (self.name, tuple(sorted(self.resolved(params).items())),
                tuple(e.key(params) for e in self.inputs))

    def key(self, params: Params) -> tuple:
        return ("ind", self.call_key(params), self.out)

    def evaluate(self, ctx: EvalContext) -> pd.Series:
        kwargs = self.resolved(ctx.params)
        result = ctx.cache.get_or_compute(
            self.call_key(ctx.params),
            lambda: self.definition.compute([e.evaluate(ctx) for e in self.inputs], kwargs))
        return self.definition.select(result, self.out, ctx.frame.index)

    def warmup(self, params: Params) -> int:
        inner = max((e.warmup(params) for e in self.inputs), default=0)
        return inner + self.definition.warmup(self.resolved(params))

    def memory(self, params: Params) -> int:
        inner = max((e.memory(params) for e in self.inputs), default=0)
        return inner + self.definition.memory(self.resolved(params))

    def children(self) -> tuple[Expr, ...]:
        return self.inputs

    def scalars(self) -> tuple[Scalar, ...]:
        return tuple(v for _, v in self.kwargs)

    def __str__(self) -> str:
        args = [str(e) for e, default in zip(self.inputs, self.definition.inputs, strict=True)
                if not (isinstance(e, Col) and e.name == default)]
        args += [str(v) if str(v) == k else f"{k}={v}" for k, v in self.kwargs]
        text = f"{self.name}({', '.join(args)})"
        return f"{text}.{self.out}" if self.out else text


# --------------------------------------------------------------------------- conditions

class Cond:
    """A boolean series aligned with the candle frame; False wherever an input is NaN."""

    def evaluate(self, ctx: EvalContext) -> np.ndarray:
        raise NotImplementedError

    def warmup(self, params: Params) -> int:
        raise NotImplementedError

    def memory(self, params: Params) -> int:
        return max((e.memory(params) for e in self.exprs()), default=0)

    def exprs(self) -> tuple[Expr, ...]:
        """Series expressions this condition reads directly or through sub-conditions."""
        return ()

    def conds(self) -> tuple[Cond, ...]:
        """Direct sub-conditions."""
        return ()

    def scalars(self) -> tuple[Scalar, ...]:
        """Parameter-dependent numbers of this node itself (not of its expressions)."""
        return ()

    def __and__(self, other: Cond) -> Cond:
        return Both(self, other)

    def __or__(self, other: Cond) -> Cond:
        return Either(self, other)


_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}


def _values(expr: Expr, ctx: EvalContext) -> np.ndarray:
    return expr.evaluate(ctx).to_numpy(dtype="float64", na_value=np.nan)


@dataclass(frozen=True, eq=False)
class Compare(Cond):
    left: Expr
    op: str
    right: Expr

    def evaluate(self, ctx: EvalContext) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return _COMPARE[self.op](_values(self.left, ctx), _values(self.right, ctx))

    def warmup(self, params: Params) -> int:
        return max(self.left.warmup(params), self.right.warmup(params))

    def exprs(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True, eq=False)
class Cross(Cond):
    """``left`` crosses ``right``: above now and at-or-below on the previous bar (or the mirror)."""

    left: Expr
    right: Expr
    upward: bool

    def evaluate(self, ctx: EvalContext) -> np.ndarray:
        a, b = _values(self.left, ctx), _values(self.right, ctx)
        out = np.zeros(a.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            if self.upward:
                out[1:] = (a[1:] > b[1:]) & (a[:-1] <= b[:-1])
            else:
                out[1:] = (a[1:] < b[1:]) & (a[:-1] >= b[:-1])
        return out

    def warmup(self, params: Params) -> int:
        return max(self.left.warmup(params), self.right.warmup(params)) + 1

    def exprs(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"{self.left} crosses {'above' if self.upward else 'below'} {self.right}"


def crosses_above(left: Expr, right: object) -> Cond:
    return Cross(left, _operand(right), True)


def crosses_below(left: Expr, right: object) -> Cond:
    return Cross(left, _operand(right), False)


@dataclass(frozen=True, eq=False)
class Present(Cond):
    """True where the expression has a value (for indicators that are NaN by design, like PSAR sides)."""

    expr: Expr

    def evaluate(self, ctx: EvalContext) -> np.ndarray:
        return ~np.isnan(_values(self.expr, ctx))

    def warmup(self, params: Params) -> int:
        return self.expr.warmup(params)

    def exprs(self) -> tuple[Expr, ...]:
        return (self.expr,)

    def __str__(self) -> str:
        return f"{self.expr} is present"


@dataclass(frozen=True, eq=False)
class Both(Cond):
    left: Cond
    right: Cond

    def evaluate(self, ctx: EvalContext) -> np.ndarray:
        return self.left.evaluate(ctx) & self.right.evaluate(ctx)

    def warmup(self, params: Params) -> int:
        return max(self.left.warmup(params), self.right.warmup(params))

    def memory(self, params: Params) -> int:
        return max(self.left.memory(params), self.right.memory(params))

    def exprs(self) -> tuple[Expr, ...]:
        return self.left.exprs() + self.right.exprs()

    def conds(self) -> tuple[Cond, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"{_wrap(self.left, Either)} and {_wrap(self.right, Either)}"


@dataclass(frozen=True, eq=False)
class Either(Cond):
    left: Cond
    right: Cond

    def evaluate(self, ctx: EvalContext) -> np.ndarray:
        return self.left.evaluate(ctx) | self.right.evaluate(ctx)

    def warmup(self, params: Params) -> int:
        return max(self.left.warmup(params), self.right.warmup(params))

    def memory(self, params: Params) -> int:
        return max(self.left.memory(params), self.right.memory(params))

    def exprs(self) -> tuple[Expr, ...]:
        return self.left.exprs() + self.right.exprs()

    def conds(self) -> tuple[Cond, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"{_wrap(self.left, Both)} or {_wrap(self.right, Both)}"


def _wrap(cond: Cond, other: type) -> str:
    return f"({cond})" if isinstance(cond, other) else str(cond)


@dataclass(frozen=True, eq=False)
class Held(Cond):
    """``cond`` held on each of the last ``bars`` bars (``within=False``) or on any of them (``within=True``)."""

    cond: Cond
    bars: Scalar
    within: bool = False

    def evaluate(self, ctx: EvalContext) -> np.ndarray:
        n = int(self.bars.resolve(ctx.params))
        values = self.cond.evaluate(ctx)
        if n <= 1:
            return values
        # Integer window sums are exact, so the full frame and a live window agree bit for bit.
        counts = np.convolve(values.astype(np.int64), np.ones(n, dtype=np.int64))[: len(values)]
        return counts > 0 if self.within else counts >= n

    def warmup(self, params: Params) -> int:
        return self.cond.warmup(params) + int(self.bars.resolve(params)) - 1

    def memory(self, params: Params) -> int:
        return self.cond.memory(params)

    def exprs(self) -> tuple[Expr, ...]:
        return self.cond.exprs()

    def conds(self) -> tuple[Cond, ...]:
        return (self.cond,)

    def scalars(self) -> tuple[Scalar, ...]:
        return (self.bars,)

    def __str__(self) -> str:
        if self.within:
            return f"({self.cond}) within the last {self.bars} bars"
        return f"({self.cond}) for {self.bars} bars in a row"


def held_for(cond: Cond, bars: object) -> Cond:
    return Held(cond, _scalar(bars), within=False)


def happened_within(cond: Cond, bars: object) -> Cond:
    return Held(cond, _scalar(bars), within=True)


def rising(expr: Expr, bars: int = 1) -> Cond:
    return Compare(expr, ">", Shift(expr, bars))


def falling(expr: Expr, bars: int = 1) -> Cond:
    return Compare(expr, "<", Shift(expr, bars))


def iter_exprs(cond: Cond) -> Iterator[Expr]:
    """Every series expression in a condition, depth first."""
    for expr in cond.exprs():
        yield from expr.walk()


def iter_scalars(cond: Cond) -> Iterator[Scalar]:
    """Every parameter-dependent number in a condition: thresholds, lengths, bar counts."""
    yield from cond.scalars()
    for sub in cond.conds():
        yield from iter_scalars(sub)
    for expr in iter_exprs(cond):
        yield from expr.scalars()
