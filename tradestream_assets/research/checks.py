"""Checks on ``live_strategy_config``: no strategy goes live with a lookahead or warm-up bias.

* ``no_lookahead``: for every (strategy, parameters) of the active set, the signals and
  compared series on bars up to t from the history cut at t equal the full history's.
* ``no_warmup_bias``: from each entry's declared warm-up (``spec.window``) on, a history
  started later gives the same signals and margins, so the live engine's window sees
  what the backtest saw.

Both run ``tradestream.strategies.bias`` on the synthetic market (the checks are about
the rules' arithmetic, not the data) and are blocking: a failure stops the run before
``signals_stream`` picks the new set up.
"""

import dagster as dg

from tradestream_assets.research.assets import live_strategy_config
from tradestream_assets.resources import StreamSupervisor
from tradestream_assets.streams.specs import live_config_path


def bias_check(kind: str, supervisor: StreamSupervisor) -> dg.AssetCheckResult:
    """Run one kind of bias check over every distinct (strategy, parameters) of the live set."""
    from tradestream.strategies import get_strategy
    from tradestream.strategies.bias import check_candles, check_strategy
    from tradestream.strategies.config import load_active_set

    active, _ = load_active_set(live_config_path(supervisor.paths().home))
    specs, sets = {}, {}
    for entry in active.entries:
        spec = get_strategy(entry.strategy)
        specs[spec.name] = spec
        if dict(entry.params) not in sets.setdefault(spec.name, []):
            sets[spec.name].append(dict(entry.params))
    candles = check_candles(list(specs.values()), sets)
    rows, failures = ["| strategy | parameters | bars compared | result |", "|---|---|---|---|"], []
    for name, spec in specs.items():
        for result in check_strategy(spec, candles, sets[name], kinds=(kind,)).results:
            params = ", ".join(f"{k}={v}" for k, v in result.params.items())
            verdict = "pass" if result.passed else f"FAIL: {result.findings[0]}"
            rows.append(f"| {name} | {params} | {result.bars_checked} | {verdict} |")
            failures += [str(f) for f in result.findings[:1]]
    return dg.AssetCheckResult(
        passed=not failures, severity=dg.AssetCheckSeverity.ERROR,
        metadata={"entries_checked": len(rows) - 2, "failures": len(failures),
                  "results": dg.MetadataValue.md("\n".join(rows))},
        description="; ".join(failures) if failures else None)


@dg.asset_check(asset=live_strategy_config, name="no_lookahead", blocking=True,
                description="Every live strategy's signals on bars up to t are the same from history cut at t as "
                            "from the full history (no value reads a later candle).")
def no_lookahead(supervisor: StreamSupervisor) -> dg.AssetCheckResult:
    return bias_check("lookahead", supervisor)


@dg.asset_check(asset=live_strategy_config, name="no_warmup_bias", blocking=True,
                description="From each live strategy's declared warm-up on, its signals and compared values do "
                            "not depend on where the history starts (the live window sees what a backtest saw).")
def no_warmup_bias(supervisor: StreamSupervisor) -> dg.AssetCheckResult:
    return bias_check("warmup", supervisor)


RESEARCH_CHECKS = (no_lookahead, no_warmup_bias)
