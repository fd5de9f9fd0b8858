"""`tradestream strategies ...`: browse the strategy library."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from tradestream.strategies import UnknownStrategyError, get_strategy, list_strategies
from tradestream.strategies.spec import StrategySpec

app = typer.Typer(no_args_is_help=True, help="The strategy library: 60 declarative strategies.")
console = Console()


def _fmt(value: float | int) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _param_text(spec: StrategySpec) -> str:
    return escape(", ".join(f"{p.name} {p.type} [{_fmt(p.min)}, {_fmt(p.max)}] = {_fmt(p.default)}"
                            for p in spec.space))


def _bound(value: float, kind: str) -> float | int:
    return int(value) if kind == "int" else float(value)


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON (name, family, description, parameters)."),
) -> None:
    """Every strategy with its parameters (name, type, min, max, default)."""
    specs = list_strategies()
    if as_json:
        data = [{"name": s.name, "family": s.family, "description": s.description,
                 "parameters": [{"name": p.name, "type": p.type, "min": _bound(p.min, p.type),
                                 "max": _bound(p.max, p.type), "default": p.default} for p in s.space],
                 "constraints": [str(c) for c in s.space.constraints]} for s in specs]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table(title=f"{len(specs)} strategies", show_lines=False, expand=True)
    table.add_column("Strategy", style="bold cyan", no_wrap=True)
    table.add_column("Family", style="magenta", no_wrap=True)
    table.add_column(escape("Parameters: name type [min, max] = default"))
    for spec in specs:
        table.add_row(spec.name, spec.family, _param_text(spec))
    console.print(table)
    console.print("Details of one strategy: [bold]tradestream strategies show NAME[/bold]")


@app.command("show")
def show_command(name: str = typer.Argument(..., help="Strategy name (case-insensitive).")) -> None:
    """Rules, indicators and parameter space of one strategy."""
    try:
        spec = get_strategy(name)
    except UnknownStrategyError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from None
    defaults = spec.space.defaults()
    console.print(Panel(escape(spec.description), title=f"[bold]{spec.name}[/bold] ({spec.family})", expand=False))
    console.print(f"[green]entry[/green]  {escape(spec.entry_rule)}")
    console.print(f"[red]exit[/red]   {escape(spec.exit_rule)}")
    console.print("indicators: " + escape(", ".join(str(i) for i in spec.indicators)))
    params = Table(title="Parameters")
    for column in ("name", "type", "min", "max", "default", "description"):
        params.add_column(column)
    for p in spec.space:
        params.add_row(p.name, p.type, _fmt(p.min), _fmt(p.max), _fmt(p.default), escape(p.description))
    console.print(params)
    if spec.space.constraints:
        console.print("constraints: " + ", ".join(str(c) for c in spec.space.constraints))
    console.print(f"look-back with defaults: {spec.lookback(defaults)} bars; "
                  f"live window: {spec.window(defaults)} bars")
    console.print("Long-only: BUY when flat and the entry rule holds at a bar's close; "
                  "SELL when long and the exit rule holds.")


@app.command("check")
def check_command(
    names: list[str] = typer.Argument(None, help="Strategies to check (case-insensitive); default: all 60."),
    draws: int = typer.Option(2, "--draws", min=0, help="Random feasible parameter sets besides the defaults."),
    param: list[str] = typer.Option(None, "--param", help="Check this parameter set only: NAME=VALUE, repeatable "
                                                           "(one strategy)."),
) -> None:
    """Lookahead and warm-up bias checks, one table per strategy; exit code 1 if any check fails.

    Lookahead: signals and compared series on bars up to t from the history cut at t equal
    the full history's. Warm-up: from the declared warm-up (spec.window) on, a history
    started later gives the same signals and margins. On the synthetic market.
    """
    from tradestream.strategies.bias import check_candles, check_strategy, parameter_spread

    try:
        specs = [get_strategy(n) for n in names] if names else list_strategies()
    except UnknownStrategyError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(code=2) from None
    if param and len(specs) != 1:
        console.print("[red]--param needs exactly one strategy name[/red]")
        raise typer.Exit(code=2)
    given = dict(p.split("=", 1) for p in param or [])
    sets = {s.name: [s.validate_params(given)] if given else parameter_spread(s, draws) for s in specs}
    candles = check_candles(specs, sets)
    failed = []
    for spec in specs:
        report = check_strategy(spec, candles, sets[spec.name])
        table = Table(title=f"{spec.name}: {'[green]no bias found[/green]' if report.passed else '[red]BIAS[/red]'}",
                      title_justify="left", expand=True)
        table.add_column("check", no_wrap=True)
        table.add_column("parameters", overflow="fold", ratio=3)
        table.add_column("bars compared", justify="right", no_wrap=True)
        table.add_column("result", min_width=6, ratio=2)
        for result in report.results:
            verdict = "[green]pass[/green]" if result.passed else f"[red]FAIL[/red] {escape(str(result.findings[0]))}"
            table.add_row(result.kind, escape(", ".join(f"{k}={_fmt(v)}" for k, v in result.params.items())),
                          str(result.bars_checked), verdict)
        console.print(table)
        if not report.passed:
            failed.append(spec.name)
    console.print(f"{len(specs) - len(failed)} of {len(specs)} strategies free of lookahead and warm-up bias"
                  + (f"; failed: {', '.join(failed)}" if failed else ""))
    if failed:
        raise typer.Exit(code=1)
