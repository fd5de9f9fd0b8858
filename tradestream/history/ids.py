"""Spans of sequential trade ids: what an import holds, what it still has to fetch, what the venue lacks.

Coinbase (like Binance's aggregate trades) numbers each product's trades 1, 2, 3, ...
so a range of history is complete exactly when every id between its first and last
trade is held, or known to be missing at the venue. Spans are closed intervals
``[first, last]`` of ids; ``last = first - 1`` is an empty span (a range without trades).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, order=True)
class IdSpan:
    """The trade ids ``first`` to ``last``, both included."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.last < self.first - 1:
            raise ValueError(f"id span [{self.first}, {self.last}] is reversed")

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"


def merge(spans: Iterable[IdSpan]) -> list[IdSpan]:
    """The union of ``spans`` as ascending, disjoint, non-adjacent spans (empty spans dropped)."""
    out: list[IdSpan] = []
    for span in sorted(s for s in spans if len(s)):
        if out and span.first <= out[-1].last + 1:
            out[-1] = IdSpan(out[-1].first, max(out[-1].last, span.last))
        else:
            out.append(span)
    return out


def subtract(span: IdSpan, held: Iterable[IdSpan]) -> list[IdSpan]:
    """The parts of ``span`` not in ``held``, ascending."""
    out: list[IdSpan] = []
    start = span.first
    for h in merge(held):
        if h.last < start:
            continue
        if h.first > span.last:
            break
        if h.first > start:
            out.append(IdSpan(start, h.first - 1))
        start = max(start, h.last + 1)
    if start <= span.last:
        out.append(IdSpan(start, span.last))
    return out


def missing_runs(ids: np.ndarray, span: IdSpan) -> list[IdSpan]:
    """Runs of ids in ``span`` that ``ids`` (unique, any order) does not contain, ascending."""
    inside = np.unique(ids[(ids >= span.first) & (ids <= span.last)])
    if not len(span):
        return []
    if not len(inside):
        return [span]
    edges = np.concatenate(([span.first - 1], inside, [span.last + 1]))
    jumps = np.flatnonzero(np.diff(edges) > 1)
    return [IdSpan(int(edges[k]) + 1, int(edges[k + 1]) - 1) for k in jumps]
