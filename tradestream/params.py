"""Parameter spaces: what a strategy can be tuned over.

The strategy library declares a ``ParamSpace`` per strategy; the live engine validates
configs against it, the backtester and the optimizer sample and search it. One
declaration, three readers.

The errors a strategy raises for a parameter set live here too, so the backtester can
catch them by type without importing the strategy library.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

ParamValue = int | float
ParamType = Literal["int", "float"]


def params_key(values: Mapping[str, ParamValue]) -> str:
    """Canonical text of a parameter set: equal sets give equal keys (the signals' ``params`` column)."""
    return json.dumps({k: values[k] for k in sorted(values)}, separators=(",", ":"))


def params_to_proto(strategy: str, values: Mapping[str, ParamValue]):  # -> strategy_pb2.StrategyParameters
    """``tradestream.v1.StrategyParameters`` of a parameter set: ints as ``int_value``, the rest as ``double_value``."""
    from tradestream.v1 import strategy_pb2  # here, so the strategy library imports without protobuf

    message = strategy_pb2.StrategyParameters(strategy=strategy)
    for name, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool):
            message.parameters.add(name=name, int_value=value)
        else:
            message.parameters.add(name=name, double_value=float(value))
    return message


def params_from_proto(message) -> dict[str, ParamValue | None]:
    """The parameter values of a ``tradestream.v1.StrategyParameters`` (None for a value never set)."""
    out: dict[str, ParamValue | None] = {}
    for param in message.parameters:
        kind = param.WhichOneof("value")
        out[param.name] = getattr(param, kind) if kind else None
    return out


class ParameterError(ValueError):
    """A parameter set does not fit its space. The message names strategy, parameter and value."""


class InsufficientCandlesError(ValueError):
    """The frame is shorter than the strategy's look-back for these parameters."""


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    min: float
    max: float
    default: ParamValue
    step: float | None = None  # grid step; int params default to 1
    description: str = ""

    def __post_init__(self) -> None:
        if self.min > self.max:
            raise ValueError(f"param {self.name}: min {self.min} > max {self.max}")
        if not (self.min <= self.default <= self.max):
            raise ValueError(f"param {self.name}: default {self.default} outside [{self.min}, {self.max}]")

    def coerce(self, value: object, owner: str = "") -> ParamValue:
        where = f"{owner}: " if owner else ""
        if isinstance(value, bool):
            raise ParameterError(f"{where}parameter {self.name}={value!r} must be a number")
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ParameterError(f"{where}parameter {self.name}={value!r} is not a number") from None
        if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
            raise ParameterError(f"{where}parameter {self.name}={value!r} must be a finite number")
        if self.type == "int":
            if float(value) != int(value):
                raise ParameterError(f"{where}parameter {self.name}={value!r} must be a whole number")
            value = int(value)
        else:
            value = float(value)
        if not (self.min <= value <= self.max):
            raise ParameterError(
                f"{where}parameter {self.name}={value!r} is outside its range [{_fmt(self.min)}, {_fmt(self.max)}]")
        return value

    def grid(self, points: int | None = None) -> list[ParamValue]:
        if self.type == "int":
            step = int(self.step or 1)
            values = list(range(int(self.min), int(self.max) + 1, step))
        else:
            n = points or (int(round((self.max - self.min) / self.step)) + 1 if self.step else 5)
            values = [self.min + i * (self.max - self.min) / max(n - 1, 1) for i in range(n)]
        if points and len(values) > points:
            idx = sorted({round(i * (len(values) - 1) / (points - 1)) for i in range(points)})
            values = [values[i] for i in idx]
        return values

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "min": _fmt(self.min), "max": _fmt(self.max),
                "default": self.default, "description": self.description}


@dataclass(frozen=True)
class Constraint:
    """A relation between parameters, e.g. ``Constraint("fast", "<", "slow")``."""

    left: str
    op: Literal["<", "<=", ">", ">="]
    right: str

    def holds(self, values: Mapping[str, ParamValue]) -> bool:
        a, b = values[self.left], values[self.right]
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[self.op]

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class ParamSpace:
    params: tuple[Param, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    owner: str = ""  # strategy name, for error messages
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(p.name for p in self.params))
        for c in self.constraints:
            for n in (c.left, c.right):
                if n not in self.names:
                    raise ValueError(f"{self.owner}: constraint {c} names unknown parameter {n!r}")
        if not self.is_feasible(self.defaults()):
            raise ValueError(f"{self.owner}: defaults {self.defaults()} violate a constraint")

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, ParamValue]:
        return {p.name: p.default for p in self.params}

    def is_feasible(self, values: Mapping[str, ParamValue]) -> bool:
        return all(c.holds(values) for c in self.constraints)

    def validate(self, values: Mapping[str, object] | None = None) -> dict[str, ParamValue]:
        """Defaults overlaid with ``values``, coerced and checked; raises ParameterError naming the value."""
        values = dict(values or {})
        where = f"{self.owner}: " if self.owner else ""
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ParameterError(f"{where}unknown parameter(s) {unknown}; expected some of {list(self.names)}")
        out = self.defaults()
        for name, raw in values.items():
            out[name] = self[name].coerce(raw, self.owner)
        for c in self.constraints:
            if not c.holds(out):
                raise ParameterError(
                    f"{where}parameters violate constraint {c}: {c.left}={out[c.left]!r}, {c.right}={out[c.right]!r}")
        return out

    def grid(self, points: int | None = None,
             keep: Callable[[dict[str, ParamValue]], bool] | None = None) -> list[dict[str, ParamValue]]:
        combos = itertools.product(*(p.grid(points) for p in self.params))
        out = []
        for combo in combos:
            values = dict(zip(self.names, combo, strict=True))
            if self.is_feasible(values) and (keep is None or keep(values)):
                out.append(values)
        return out


def _fmt(x: float) -> ParamValue:
    return int(x) if float(x).is_integer() else x
