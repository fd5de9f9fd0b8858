"""Bias detection: lookahead and warm-up (recursive) bias, for any strategy and parameters.

Two ways a backtest can promise what live trading cannot deliver:

* **Lookahead**: a value at bar ``t`` that depends on candles after ``t`` (a centered
  oscillator, a chikou span, a profile binned over the whole frame). Detected by
  evaluating the rule on the history cut at ``t`` and comparing every bar up to ``t``
  with the evaluation over the full history: signals and, from the look-back on, every
  series a comparison of the rule reads must be bit-identical (a causal computation on
  a prefix repeats the same floating-point steps).
* **Warm-up bias**: a value that still depends on where the history starts after the
  strategy's declared warm-up (``spec.window(params)``: its look-back plus the bars its
  recursive indicators need to forget their seed). The live engine keeps exactly that
  window, so such a value would differ between the backtest and live. Detected by
  evaluating on the history started later by a few offsets and comparing every bar
  from the declared warm-up on: signals exactly, and each comparison's margin (left
  minus right, which is free of the constant offset cumulative indicators such as OBV
  carry on a window) to ``MARGIN_TOLERANCE`` of the larger of the two sides and the close.

``check_strategy`` runs both over a spread of parameter sets (the defaults and seeded
random feasible draws) on the synthetic market; ``tradestream strategies check`` prints
the results and the Dagster asset checks on ``live_strategy_config`` refuse a live set
with a finding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from tradestream.params import ParamValue
from tradestream.strategies.cache import IndicatorCache
from tradestream.strategies.expressions import Compare, Cond, Cross, EvalContext
from tradestream.strategies.registry import get_strategy
from tradestream.strategies.spec import StrategySpec
from tradestream.strategies.synthetic import synthetic_candles

Kind = Literal["lookahead", "warmup"]
MARGIN_TOLERANCE = 1e-9  # of the price scale, as the live no-skew tests use
LOOKAHEAD_CUTS = 12  # cut points per parameter set
LOOKAHEAD_BARS = 600  # bars after the look-back in which the cut points lie
WARMUP_OFFSETS = (1, 37, 500)  # later starts of the history compared with the full one
WARMUP_CHECKED_BARS = 1500  # bars after the declared warm-up compared per offset


@dataclass(frozen=True)
class BiasFinding:
    """One bar where a check found the rule depending on what it should not see."""

    kind: Kind
    strategy: str
    params: dict[str, ParamValue]
    bar: int  # position in the candles given to the check
    time: pd.Timestamp
    what: str  # "entry", "exit" or the comparison whose operands differ
    detail: str

    def __str__(self) -> str:
        return f"{self.strategy} {self.kind} at bar {self.bar} ({self.time}): {self.what}: {self.detail}"


@dataclass(frozen=True)
class CheckResult:
    kind: Kind
    strategy: str
    params: dict[str, ParamValue]
    bars_checked: int  # bar comparisons made: over all cuts (lookahead) or all offsets (warm-up)
    findings: tuple[BiasFinding, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class StrategyBiasReport:
    strategy: str
    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def of(self, kind: Kind) -> list[CheckResult]:
        return [r for r in self.results if r.kind == kind]


def comparisons(cond: Cond) -> list[Compare | Cross]:
    """Every comparison and crossing in a rule: the series it decides on."""
    found: list[Compare | Cross] = [cond] if isinstance(cond, (Compare, Cross)) else []
    for sub in cond.conds():
        found += comparisons(sub)
    return found


def parameter_spread(spec: StrategySpec, draws: int = 2, seed: int = 0) -> list[dict[str, ParamValue]]:
    """The defaults and ``draws`` feasible parameter sets drawn uniformly from the space (seeded)."""
    rng = np.random.default_rng(seed)
    out = [spec.space.defaults()]
    for _ in range(draws * 100):
        if len(out) > draws:
            break
        values = {p.name: (int(rng.integers(int(p.min), int(p.max) + 1)) if p.type == "int"
                           else float(round(rng.uniform(p.min, p.max), 4))) for p in spec.space}
        if spec.space.is_feasible(values) and values not in out:
            out.append(spec.space.validate(values))
    return out


Operands = list[tuple[str, np.ndarray, np.ndarray]]


def _evaluate(spec: StrategySpec, frame: pd.DataFrame, params: Mapping[str, ParamValue]
              ) -> tuple[tuple[np.ndarray, np.ndarray], Operands]:
    """(entries, exits) and, per comparison of the rule, its (text, left, right) series; one cache."""
    cache = IndicatorCache.for_validated(frame)
    entries, exits = spec.evaluate_frame(frame, params, cache)
    ctx = EvalContext(frame, params, cache, spec.name)
    operands = [(str(c), c.left.evaluate(ctx).to_numpy(dtype="float64", na_value=np.nan),
                 c.right.evaluate(ctx).to_numpy(dtype="float64", na_value=np.nan))
                for c in comparisons(spec.entry) + comparisons(spec.exit)]
    return (entries.to_numpy(), exits.to_numpy()), operands


def check_lookahead(spec: StrategySpec, candles: pd.DataFrame, params: Mapping[str, object] | None = None,
                    cuts: Sequence[int] | None = None) -> CheckResult:
    """Signals and compared series on bars ``<= t`` from the history cut at ``t`` equal the full history's.

    ``cuts`` are the bars ``t`` (default: ``LOOKAHEAD_CUTS`` spread after the look-back,
    including the bars where the full history signals, where a leak matters most).
    """
    values = spec.validate_params(params)
    frame = IndicatorCache().bind(candles, owner=spec.name)
    lookback = spec.lookback(values)
    full_signals, full_operands = _evaluate(spec, frame, values)
    if cuts is None:
        cuts = _spread_cuts(lookback, len(frame), full_signals)
    findings: list[BiasFinding] = []
    checked = 0
    for t in cuts:
        cut_signals, cut_operands = _evaluate(spec, frame.iloc[: t + 1], values)
        checked += t + 1 - lookback
        findings += _signal_findings("lookahead", spec, values, frame, full_signals, cut_signals, 0, 0,
                                     lambda a, b, t=t: f"{a} with the full history, {b} with the history cut at "
                                                       f"bar {t}")
        for (what, left, right), (_, cut_left, cut_right) in zip(full_operands, cut_operands, strict=True):
            for side, full, part in (("left", left, cut_left), ("right", right, cut_right)):
                # from the look-back on: earlier values are never read (signals are False there)
                same = (full[lookback: t + 1] == part[lookback:]) | (np.isnan(full[lookback: t + 1])
                                                                     & np.isnan(part[lookback:]))
                findings += _first_difference(
                    "lookahead", spec, values, frame, ~same, lookback, what,
                    lambda b, f=full, p=part, side=side, t=t: f"{side} side {f[b]!r} with the full history, "
                                                              f"{p[b]!r} with the history cut at bar {t}")
        if findings:
            break  # one cut proves it; the first finding says where
    return CheckResult("lookahead", spec.name, dict(values), checked, tuple(findings))


def _signal_findings(kind: Kind, spec: StrategySpec, values: Mapping[str, ParamValue], frame: pd.DataFrame,
                     full: tuple[np.ndarray, ...], other: tuple[np.ndarray, ...], offset: int, first: int,
                     detail) -> list[BiasFinding]:
    """The first bar from ``first`` on where ``other``'s entry (exit) differs from ``full``'s; ``other`` was
    evaluated on the frame from bar ``offset`` on (and possibly cut short)."""
    out = []
    for what, a, b in zip(("entry", "exit"), full, other, strict=True):
        out += _first_difference(kind, spec, values, frame, a[first: offset + b.size] != b[first - offset:], first,
                                 what, lambda i, a=a, b=b: detail(bool(a[i]), bool(b[i - offset])))
    return out


def _first_difference(kind: Kind, spec: StrategySpec, values: Mapping[str, ParamValue], frame: pd.DataFrame,
                      differs: np.ndarray, first: int, what: str, describe) -> list[BiasFinding]:
    """A finding at the first True of ``differs`` (whose element 0 is bar ``first``), or none."""
    bad = np.flatnonzero(differs)
    if not bad.size:
        return []
    bar = int(bad[0]) + first
    return [BiasFinding(kind, spec.name, dict(values), bar, frame.index[bar], what, describe(bar))]


def _spread_cuts(lookback: int, length: int, signals: tuple[np.ndarray, ...]) -> list[int]:
    first, last = lookback + 1, min(length - 1, lookback + LOOKAHEAD_BARS)
    if last < first:
        return []
    grid = np.linspace(first, last, LOOKAHEAD_CUTS // 2).round().astype(int).tolist()
    fired = np.flatnonzero(signals[0][first:last + 1] | signals[1][first:last + 1]) + first
    picks = fired[np.linspace(0, fired.size - 1, min(fired.size, LOOKAHEAD_CUTS - len(grid))).astype(int)] \
        if fired.size else np.array([], dtype=int)
    return sorted(set(grid) | {int(b) for b in picks})


def check_warmup(spec: StrategySpec, candles: pd.DataFrame, params: Mapping[str, object] | None = None,
                 offsets: Iterable[int] = WARMUP_OFFSETS) -> CheckResult:
    """From the declared warm-up on, a history started ``offset`` bars later gives the same signals and margins."""
    values = spec.validate_params(params)
    frame = IndicatorCache().bind(candles, owner=spec.name)
    window = spec.window(values)
    full_signals, full_operands = _evaluate(spec, frame, values)
    close = frame["close"].to_numpy()
    findings: list[BiasFinding] = []
    checked = 0
    for offset in offsets:
        start = offset + window - 1  # first bar of `frame` the later history has warmed up for
        if start >= len(frame):
            raise ValueError(f"{spec.name}: {len(frame)} candles are too few for a warm-up check with offset "
                             f"{offset} and window {window}; pass at least {start + 2}")
        later_signals, later_operands = _evaluate(spec, frame.iloc[offset:], values)
        span = slice(start, len(frame))
        checked += len(frame) - start
        findings += _signal_findings("warmup", spec, values, frame, full_signals, later_signals, offset, start,
                                     lambda a, b, o=offset: f"{a} from bar 0, {b} from bar {o} ({window} bars of "
                                                            "declared warm-up)")
        for (what, left, right), (_, l2, r2) in zip(full_operands, later_operands, strict=True):
            margin, later_margin = (left - right)[span], (l2 - r2)[window - 1:]
            scale = np.fmax(np.fmax(np.abs(left[span]), np.abs(right[span])), close[span])
            with np.errstate(invalid="ignore"):
                differs = np.abs(margin - later_margin) > MARGIN_TOLERANCE * scale
            differs |= np.isnan(margin) != np.isnan(later_margin)
            findings += _first_difference(
                "warmup", spec, values, frame, differs, start, what,
                lambda b, m=margin, lm=later_margin, o=offset, s=start: f"margin {m[b - s]!r} from bar 0, "
                                                                        f"{lm[b - s]!r} from bar {o}")
        if findings:
            break
    return CheckResult("warmup", spec.name, dict(values), checked, tuple(findings))


def check_candles(specs: Sequence[StrategySpec], param_sets: Mapping[str, Sequence[Mapping[str, object]]],
                  seed: int = 7) -> pd.DataFrame:
    """The synthetic market, long enough for every warm-up check of these strategies and parameters."""
    longest = max(spec.window(p) for spec in specs for p in param_sets[spec.name])
    lookback = max(spec.lookback(p) for spec in specs for p in param_sets[spec.name])
    bars = max(longest + max(WARMUP_OFFSETS) + WARMUP_CHECKED_BARS, lookback + LOOKAHEAD_BARS + 1)
    return synthetic_candles(days=bars / 1440, seed=seed)


def check_strategy(name_or_spec: str | StrategySpec, candles: pd.DataFrame | None = None,
                   param_sets: Sequence[Mapping[str, object]] | None = None, draws: int = 2,
                   kinds: Sequence[Kind] = ("lookahead", "warmup")) -> StrategyBiasReport:
    """The ``kinds`` of check for each parameter set (default: ``parameter_spread``) on ``candles``
    (default: the synthetic market, long enough for the slowest parameter set)."""
    spec = name_or_spec if isinstance(name_or_spec, StrategySpec) else get_strategy(name_or_spec)
    sets = [spec.validate_params(p) for p in param_sets] if param_sets else parameter_spread(spec, draws)
    if candles is None:
        candles = check_candles([spec], {spec.name: sets})
    results: list[CheckResult] = []
    for params in sets:
        if "lookahead" in kinds:
            results.append(check_lookahead(spec, candles.iloc[: spec.lookback(params) + LOOKAHEAD_BARS + 1], params))
        if "warmup" in kinds:
            bars = spec.window(params) + max(WARMUP_OFFSETS) + WARMUP_CHECKED_BARS
            results.append(check_warmup(spec, candles.iloc[:bars], params))
    return StrategyBiasReport(spec.name, tuple(results))
